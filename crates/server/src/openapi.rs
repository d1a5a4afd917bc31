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
        crate::auth::change_own_password, crate::auth::login, crate::auth::logout, crate::auth::me,
        crate::regions::get_region, crate::regions::children, crate::regions::subtree,
        crate::estates::list, crate::estates::summary, crate::estates::get_one, crate::estates::create, crate::estates::update,
        crate::estates::buildings, crate::estates::create_building, crate::estates::reveal_contact, crate::estates::reveal_owners, crate::estates::dwellings, crate::estates::export_xlsx,
        crate::estates::import, crate::estates::template_xlsx, crate::estates::template_csv,
        crate::accounts::roles, crate::accounts::list, crate::accounts::create, crate::accounts::set_password, crate::accounts::attach_estate,
        crate::audit::list,
        crate::map::tile,
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
        crate::late::overview, crate::construction::write_log, crate::construction::record_material, crate::lifecycle::add_evidence,
        crate::lifecycle::checklist, crate::lifecycle::set_checklist_item,
        crate::decisions::rules, crate::decisions::set_rules, crate::decisions::list, crate::decisions::create, crate::decisions::show,
        crate::decisions::cast, crate::decisions::ballots, crate::decisions::verify, crate::decisions::close,
        crate::notices::list, crate::notices::post_notice, crate::notices::comment, crate::notices::answer,
        crate::residents::invitations, crate::residents::invitations_pdf, crate::residents::bind, crate::residents::me, crate::residents::send_otp, crate::residents::verify_otp,
        crate::residents::bound, crate::residents::verify_owner,
        crate::surveys::list, crate::surveys::create, crate::surveys::show, crate::surveys::answer, crate::surveys::photos,
        crate::surveys::results, crate::surveys::export_xlsx,
        crate::public::estate_state, crate::public::set_estate_state, crate::public::page, crate::public::photo, crate::public::setting, crate::public::set_setting,
        crate::archive::checklist, crate::archive::set_line, crate::archive::photos,
        crate::requests::file, crate::requests::list, crate::requests::mine, crate::requests::handle, crate::requests::rate,
        crate::funds::list, crate::funds::create, crate::funds::set_contract, crate::funds::project, crate::funds::request,
        crate::funds::approve, crate::funds::reverse, crate::funds::verify, crate::funds::disbursements, crate::funds::export_xlsx,
        crate::funds::payment_bases, crate::funds::payable_allocations, crate::funds::verify_job, crate::funds::start_verify, crate::funds::plans::plan, crate::funds::plans::set_plan, crate::funds::plans::contributions, crate::funds::plans::contribute,
        crate::funds::plans::project_reconciliation, crate::funds::plans::region_reconciliation, crate::funds::plans::estate,
        crate::funds::reports::report, crate::funds::reports::report_xlsx, crate::funds::upkeep::show, crate::funds::upkeep::credit,
        crate::funds::upkeep::spend, crate::funds::upkeep::approve, crate::funds::upkeep::refuse,
    ),
    components(schemas(crate::auth::LoginRequest, crate::auth::LoginResponse, crate::auth::Me, crate::estates::EstateView,
        crate::estates::EstatePage, crate::estates::ImportResult, crate::accounts::CreateUser, crate::accounts::NewPassword,
        crate::accounts::Attach, crate::lifecycle::StepRequest, crate::lifecycle::Lifecycle, crate::lifecycle::AssessmentPage,
        crate::lifecycle::AssessmentRequest, crate::ranking::RankingRequest, crate::ranking::RankingPage,
        crate::plans::PlanRequest, crate::plans::PlanPage, crate::plans::AddEstates, crate::projects::ProjectPage,
        crate::projects::StartApproval, crate::projects::FinishStep, crate::projects::LateSteps, crate::schemes::MenuPage,
        crate::schemes::DraftRequest, crate::schemes::IssueRequest, crate::schemes::SchemeDiff, crate::lifecycle::OpenAcceptance, crate::lifecycle::SignRequest,
        crate::lifecycle::ReviewRequest, crate::lifecycle::CloseTask,
        crate::construction::InspectionRequest, crate::construction::ChangeText, crate::lifecycle::ChecklistPage)),
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
