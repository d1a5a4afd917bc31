//! HTTP routes of funds: allocations from a source or from a parent allocation, contract sums,
//! disbursements asked for and approved, the ledger's corrections and its chain check, and what a
//! project has been paid by source.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use huanxin_domain::funds::AllocationInput;
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::schemes::Category;
use huanxin_domain::ValidationErrors;
use huanxin_store::funds::{Allocation, Disbursement, DisbursementFilter, FundsError, LedgerCheck};
use serde::{Deserialize, Serialize};

pub mod plans;
pub mod reports;
pub mod upkeep;

impl From<FundsError> for ApiError {
    fn from(e: FundsError) -> Self {
        match e {
            FundsError::Refused(r) => ApiError::Conflict(r.reason()),
            FundsError::Store(s) => s.into(),
        }
    }
}

/// Which region's allocations.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegionQuery {
    pub region: Option<String>,
}

/// A contract sum in yuan.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ContractRequest {
    pub amount: String,
}

/// A payment asked for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DisbursementRequest {
    pub allocation_id: i64,
    pub project_id: i64,
    /// basic, improvement or upgrading: what it pays for.
    pub category: String,
    pub payee: String,
    /// Yuan, at most two decimals.
    pub amount: String,
    /// What it pays for: `milestone:<schedule node id>` (finished) or `inspection:<inspection id>` (passed).
    pub basis: String,
}

/// A correction's reason.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReverseRequest {
    pub memo: String,
}

/// What a project has been paid.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectFunds {
    pub contract_fen: Option<i64>,
    /// (source, fen paid) — reversals included.
    #[schema(value_type = Vec<Vec<serde_json::Value>>)]
    pub paid_by_source: Vec<(String, i64)>,
}

/// Allocations given to a region and below, with what is left of each.
#[utoipa::path(get, path = "/api/v1/allocations", tag = "funds", params(RegionQuery), responses((status = 200, description = "allocations")))]
pub async fn list(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<RegionQuery>,
) -> Result<Json<Vec<Allocation>>, ApiError> {
    Ok(Json(st.db.allocations(&cu.scope, &crate::statistics::known_region(&st, &cu, q.region.as_deref()).await?).await?))
}

/// Records an allocation (from a source, or cut from a parent that covers it); its ledger entry is written with it.
#[utoipa::path(post, path = "/api/v1/allocations", tag = "funds", request_body = Object,
    responses((status = 201, description = "the allocation"), (status = 409), (status = 422)))]
pub async fn create(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(input): ApiJson<AllocationInput>,
) -> Result<(StatusCode, Json<Allocation>), ApiError> {
    // Every problem at once: the region's with the other fields'.
    let region = RegionCode::parse(&input.region_code);
    let (region, valid) = match (region, input.validate()) {
        (Ok(r), Ok(v)) => (r, v),
        (region, valid) => {
            let mut e = ValidationErrors::default();
            if let Err(r) = region {
                e.push("region_code", input.region_code.chars().take(40).collect::<String>(), r);
            }
            if let Err(v) = valid {
                e.0.extend(v.0);
            }
            return Err(ApiError::Invalid(e));
        }
    };
    let a = st.db.create_allocation(&cu.actor(), &cu.scope, &region, input.year, &input.purpose, input.parent_id, &valid).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// Sets a project's contract sum (the most its disbursements may add up to).
#[utoipa::path(put, path = "/api/v1/projects/{id}/contract", tag = "funds", params(("id" = i64, Path)), request_body = ContractRequest,
    responses((status = 200, body = ProjectFunds), (status = 422)))]
pub async fn set_contract(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ContractRequest>,
) -> Result<Json<ProjectFunds>, ApiError> {
    let mut e = ValidationErrors::default();
    let amount = huanxin_domain::funds::amount_field("amount", &req.amount, &mut e).ok_or(ApiError::Invalid(e))?;
    st.db.set_contract(&cu.actor(), &cu.scope, id, amount).await?;
    project(State(st), Extension(cu), ApiPath(id)).await
}

/// What a project has been paid by source, and its contract sum.
#[utoipa::path(get, path = "/api/v1/projects/{id}/funds", tag = "funds", params(("id" = i64, Path)), responses((status = 200, body = ProjectFunds)))]
pub async fn project(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProjectFunds>, ApiError> {
    let (contract_fen, paid_by_source) = st.db.project_funds(&cu.scope, id).await?;
    Ok(Json(ProjectFunds { contract_fen, paid_by_source }))
}

/// Asks for a payment from an allocation to a project's payee; it waits for approval.
#[utoipa::path(post, path = "/api/v1/disbursements", tag = "funds", request_body = DisbursementRequest,
    responses((status = 201, description = "the disbursement"), (status = 422)))]
pub async fn request(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<DisbursementRequest>,
) -> Result<(StatusCode, Json<Disbursement>), ApiError> {
    let mut e = ValidationErrors::default();
    let category = Category::parse(&req.category);
    if category.is_none() {
        e.push("category", &req.category, reason!("field.category_kind"));
    }
    if req.payee.trim().is_empty() || req.payee.chars().count() > 200 {
        e.push("payee", &req.payee, reason!("field.length", max = 200));
    }
    let amount = huanxin_domain::funds::amount_field("amount", &req.amount, &mut e);
    let basis = huanxin_domain::funds::Basis::parse(&req.basis);
    if basis.is_none() {
        e.push("basis", &req.basis, reason!("funds.basis_form"));
    }
    let (Some(category), Some(amount), Some(basis), true) = (category, amount, basis, e.is_empty()) else {
        return Err(ApiError::Invalid(e));
    };
    let d =
        st.db.request_disbursement(&cu.actor(), &cu.scope, req.allocation_id, req.project_id, category, &req.payee, amount, basis).await?;
    Ok((StatusCode::CREATED, Json(d)))
}

/// The allocations a project may be paid from: its region's or above, earmarked to no other project, with money left.
#[utoipa::path(get, path = "/api/v1/projects/{id}/payable-allocations", tag = "funds", params(("id" = i64, Path)),
    responses((status = 200, description = "allocations"), (status = 404)))]
pub async fn payable_allocations(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Allocation>>, ApiError> {
    Ok(Json(st.db.payable_allocations(&cu.scope, id).await?))
}

/// What a project's payments may be made for now: finished milestones and passed inspections of its estates.
#[utoipa::path(get, path = "/api/v1/projects/{id}/payment-bases", tag = "funds", params(("id" = i64, Path)), responses((status = 200, description = "bases")))]
pub async fn payment_bases(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<huanxin_store::funds::PaymentBasis>>, ApiError> {
    Ok(Json(st.db.payment_bases(&cu.scope, id).await?))
}

/// Disbursements of projects in the caller's region, newest first: `{items, total}`.
#[utoipa::path(get, path = "/api/v1/disbursements", tag = "funds",
    params(("project_id" = Option<i64>, Query), ("status" = Option<String>, Query, description = "requested, approved or reversed"),
           ("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query)),
    responses((status = 200, description = "a page of disbursements and how many match"), (status = 422)))]
pub async fn disbursements(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(f): ApiQuery<DisbursementFilter>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(status) = f.status.as_deref().filter(|s| !["", "requested", "approved", "reversed"].contains(s)) {
        return Err(ApiError::field("status", status, reason!("funds.status_kind")));
    }
    let (items, total) = st.db.disbursements(&cu.scope, &f).await?;
    Ok(Json(serde_json::json!({"items": items, "total": total})))
}

/// Approves a disbursement: refused (409, naming why) when it would overspend the allocation, pay
/// what the allocation may not pay for, exceed the contract, or pay a closed project.
#[utoipa::path(post, path = "/api/v1/disbursements/{id}/approve", tag = "funds", params(("id" = i64, Path)),
    responses((status = 200, description = "the disbursement, paid"), (status = 409)))]
pub async fn approve(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Disbursement>, ApiError> {
    Ok(Json(st.db.approve_disbursement(&cu.actor(), &cu.scope, id).await?))
}

/// Corrects a ledger entry with its reversing entry.
#[utoipa::path(post, path = "/api/v1/ledger/{seq}/reverse", tag = "funds", params(("seq" = i64, Path)), request_body = ReverseRequest,
    responses((status = 201, description = "the reversing entry's number"), (status = 409)))]
pub async fn reverse(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(seq): ApiPath<i64>,
    ApiJson(req): ApiJson<ReverseRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    if req.memo.trim().is_empty() {
        return Err(ApiError::field("memo", "", reason!("funds.correction_reason_required")));
    }
    let new_seq = st.db.reverse_entry(&cu.actor(), &cu.scope, seq, req.memo.trim()).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({"seq": new_seq}))))
}

/// The fund ledger (资金使用台账) of a region as a workbook: every movement of its allocations in order,
/// and each allocation with what is left of it.
#[utoipa::path(get, path = "/api/v1/ledger/export.xlsx", tag = "funds", params(RegionQuery),
    responses((status = 200, description = "xlsx", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn export_xlsx(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<RegionQuery>,
) -> Result<axum::response::Response, ApiError> {
    let rc = crate::statistics::known_region(&st, &cu, q.region.as_deref()).await?;
    let region = rc.as_str();
    let lines = st.db.ledger_of_region(&cu.scope, &rc).await?;
    let allocations = st.db.allocations(&cu.scope, &rc).await?;
    let yuan = |fen: i64| format!("{:.2}", fen as f64 / 100.0);
    // An account as a reader of the ledger knows it.
    let name = |code: &str| -> String {
        match code.split_once(':') {
            Some(("allocation", id)) => allocations
                .iter()
                .find(|a| a.id.to_string() == id)
                .map(|a| format!("#{id} {}", a.purpose))
                .unwrap_or_else(|| format!("资金 #{id}")),
            Some(("source", s)) => format!("来源：{s}"),
            Some(("paid", p)) => format!("已付项目 #{p}"),
            Some(("upkeep", e)) => format!("维修资金 小区#{e}"),
            Some(("revenue", e)) => format!("业主缴存及公共收益 小区#{e}"),
            Some(("upkeep_spent", e)) => format!("维修资金支出 小区#{e}"),
            _ => code.to_string(),
        }
    };
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            vec![
                l.seq.to_string(),
                l.at.get(..10).unwrap_or("").to_string(),
                l.source.clone(),
                l.memo.clone(),
                name(&l.debit),
                name(&l.credit),
                yuan(l.amount),
                l.project.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let balances: Vec<Vec<String>> = allocations
        .iter()
        .map(|a| vec![a.id.to_string(), a.source.clone(), a.year.to_string(), a.purpose.clone(), yuan(a.amount), yuan(a.left)])
        .collect();
    // A sheet holds at most 1,048,576 rows: a longer ledger continues on 资金使用台账(2), (3)…; the
    // workbook is built on the blocking pool, not an async worker.
    let bytes = tokio::task::spawn_blocking(move || {
        const SHEET_ROWS: usize = 1_000_000;
        let names: Vec<String> = (0..rows.len().div_ceil(SHEET_ROWS).max(1))
            .map(|i| if i == 0 { "资金使用台账".to_string() } else { format!("资金使用台账({})", i + 1) })
            .collect();
        let headers = ["序号", "日期", "资金来源", "摘要", "借方（流入）", "贷方（流出）", "金额(元)", "项目"];
        let mut sheets: Vec<crate::tabular::Sheet<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, name)| crate::tabular::Sheet {
                name,
                headers: &headers,
                rows: rows.get(i * SHEET_ROWS..((i + 1) * SHEET_ROWS).min(rows.len())).unwrap_or(&[]),
            })
            .collect();
        sheets.push(crate::tabular::Sheet {
            name: "资金结余",
            headers: &["编号", "来源", "年度", "用途", "下达(元)", "结余(元)"],
            rows: &balances,
        });
        crate::tabular::write_xlsx_sheets(&sheets)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("workbook writer stopped: {e}")))??;
    Ok(crate::estates::attachment(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("资金使用台账-{region}.xlsx"),
    ))
}

/// A check of the whole chain running in the background, on whichever server took it: how far
/// it got, and its outcome.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct LedgerJob {
    /// The job's number (0: no check was ever asked for).
    pub id: i64,
    pub running: bool,
    /// Entries checked so far, of `total`.
    pub walked: i64,
    pub total: i64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<LedgerCheck>,
    /// Why the check could not finish (a database error), if it could not.
    pub error: Option<String>,
    /// The server that runs or ran it.
    pub server: Option<String>,
    /// How many servers took it (more than one: a server stopped while checking).
    pub attempts: i64,
}

impl LedgerJob {
    fn of(job: huanxin_store::jobs::Job) -> LedgerJob {
        LedgerJob {
            id: job.id,
            running: huanxin_domain::jobs::JobState::parse(&job.state).is_some_and(|s| s.open()),
            walked: job.progress,
            total: job.total,
            started_at: job.started_at.or(Some(job.created_at)),
            finished_at: job.finished_at,
            result: job.result.and_then(|r| serde_json::from_str(&r).ok()),
            error: job.error,
            server: job.holder,
            attempts: job.attempts,
        }
    }
}

/// Starts checking the whole chain in the background (at 10 million entries it takes seconds) on
/// one server of the cluster, unless a check is waiting or running; answers how far it is.
#[utoipa::path(post, path = "/api/v1/ledger/verify/job", tag = "funds", responses((status = 202, body = LedgerJob)))]
pub async fn start_verify(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
) -> Result<(StatusCode, Json<LedgerJob>), ApiError> {
    let total = st.db.ledger_entries().await?;
    let job = st.db.start_job(crate::jobs::LEDGER_VERIFY, "{}", total, Some(cu.user.id)).await?;
    Ok((StatusCode::ACCEPTED, Json(LedgerJob::of(job))))
}

/// How far the latest check of the chain is, and its outcome once done (from any server).
#[utoipa::path(get, path = "/api/v1/ledger/verify/job", tag = "funds", responses((status = 200, body = LedgerJob)))]
pub async fn verify_job(State(st): State<AppState>) -> Result<Json<LedgerJob>, ApiError> {
    Ok(Json(st.db.latest_job(crate::jobs::LEDGER_VERIFY).await?.map(LedgerJob::of).unwrap_or_default()))
}

/// Walks the whole ledger and says whether its chain is intact.
#[utoipa::path(get, path = "/api/v1/ledger/verify", tag = "funds", responses((status = 200, description = "the check")))]
pub async fn verify(State(st): State<AppState>) -> Result<Json<LedgerCheck>, ApiError> {
    let check = st.db.verify_ledger().await?;
    Ok(Json(against_published(&st.db, &st.config, check).await?))
}

/// A walk of the ledger, then its agreement with every head published before: an intact walk of
/// a chain whose tail was cut and whose head was rewritten is a break all the same.
pub async fn against_published(db: &huanxin_store::Db, config: &crate::Config, mut check: LedgerCheck) -> Result<LedgerCheck, ApiError> {
    if check.intact {
        if let Some(d) = crate::chains::check_published(db, config, |c| c == "ledger").await?.into_iter().next() {
            check.intact = false;
            check.broken_at = Some(huanxin_domain::chain::Break { seq: d.records, reason: d.problem });
        }
    }
    Ok(check)
}
