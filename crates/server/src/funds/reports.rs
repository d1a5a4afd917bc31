//! HTTP routes of the funds reports: a region's year by source, by region and by month, as JSON and xlsx.

use super::plans::RegionYearQuery;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiQuery};
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use chrono::Datelike;
use huanxin_domain::reason;
use huanxin_store::funds::reports::{FundsBySource, FundsReport, RateRow};

fn year_of(q: &RegionYearQuery) -> Result<i64, ApiError> {
    let year = q.year.unwrap_or_else(|| i64::from(huanxin_store::clock::utc_now().year()));
    if !(2000..=2100).contains(&year) {
        return Err(ApiError::field("year", year, reason!("field.year_form")));
    }
    Ok(year)
}

/// A region's funds for a year: allocated into it, paid to its projects, and the disbursement rate,
/// by source, by the regions one level down and by month.
#[utoipa::path(get, path = "/api/v1/funds/report", tag = "funds", params(RegionYearQuery), responses((status = 200, description = "the report")))]
pub async fn report(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<RegionYearQuery>,
) -> Result<Json<FundsReport>, ApiError> {
    Ok(Json(
        st.db
            .funds_report(&cu.scope, &crate::statistics::known_region(&st, &cu, q.region.as_deref()).await?, year_of(&q)?, &st.allocated)
            .await?,
    ))
}

/// A region's funds by source up to the end of a year (allocated, paid, rate): the dashboards'
/// panel, read from kept totals.
#[utoipa::path(get, path = "/api/v1/funds/by-source", tag = "funds", params(RegionYearQuery), responses((status = 200, description = "by source")))]
pub async fn by_source(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<RegionYearQuery>,
) -> Result<Json<FundsBySource>, ApiError> {
    Ok(Json(
        st.db
            .funds_by_source(&cu.scope, &crate::statistics::known_region(&st, &cu, q.region.as_deref()).await?, year_of(&q)?, &st.allocated)
            .await?,
    ))
}

/// The same report as a workbook (by source, by region, by month, and the reconciliation).
#[utoipa::path(get, path = "/api/v1/funds/report.xlsx", tag = "funds", params(RegionYearQuery),
    responses((status = 200, description = "xlsx", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn report_xlsx(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<RegionYearQuery>,
) -> Result<axum::response::Response, ApiError> {
    let region = crate::statistics::known_region(&st, &cu, q.region.as_deref()).await?;
    let year = year_of(&q)?;
    let r = st.db.funds_report(&cu.scope, &region, year, &st.allocated).await?;
    let rec = st.db.region_reconciliation(&cu.scope, &region).await?;
    let yuan = |fen: i64| format!("{:.2}", fen as f64 / 100.0);
    let pct = |p: Option<f64>| p.map(|p| format!("{p:.1}")).unwrap_or_default();
    let rate_rows = |rows: &[RateRow]| -> Vec<Vec<String>> {
        rows.iter().map(|x| vec![x.key.clone(), x.name.clone(), yuan(x.allocated), yuan(x.paid), pct(x.rate_pct)]).collect()
    };
    let sources = rate_rows(&r.by_source);
    let regions = rate_rows(&r.by_region);
    let months: Vec<Vec<String>> = r.by_month.iter().map(|m| vec![m.month.clone(), yuan(m.total), pct(m.cumulative_rate_pct)]).collect();
    let recon: Vec<Vec<String>> = rec
        .differences
        .iter()
        .map(|d| vec![d.kind.to_string(), d.source.map(|s| s.as_str().to_string()).unwrap_or_default(), yuan(d.expected), yuan(d.actual)])
        .collect();
    let bytes = crate::tabular::write_xlsx_sheets(&[
        crate::tabular::Sheet {
            name: "按来源", headers: &["来源", "名称", "下达(元)", "支付(元)", "支付率(%)"], rows: &sources
        },
        crate::tabular::Sheet {
            name: "按地区", headers: &["区划代码", "地区", "下达(元)", "支付(元)", "支付率(%)"], rows: &regions
        },
        crate::tabular::Sheet { name: "按月", headers: &["月份", "支付(元)", "累计支付率(%)"], rows: &months },
        crate::tabular::Sheet { name: "对账差异", headers: &["差异", "来源", "应为(元)", "实为(元)"], rows: &recon },
    ])?;
    Ok(crate::estates::attachment(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("资金报表-{}-{year}.xlsx", region.as_str()),
    ))
}
