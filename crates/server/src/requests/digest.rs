//! The weekly digest per street as xlsx: a summary sheet with a row per street (filed, answered,
//! on time, late, supervised, warned, the kinds most asked about) and a sheet per street listing
//! the week's requests (no names or phones).

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiQuery};
use crate::estates::{attachment, XLSX};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use huanxin_domain::reason;
use huanxin_domain::requests::digest::{self as rules, DigestRow, StreetWeek};
use huanxin_domain::requests::Status;
use huanxin_domain::statistics::china_day;
use huanxin_store::requests::digest::DigestRequest;
use serde::Deserialize;
use std::collections::HashMap;

/// The week of the digest: any day of it (the week before this one when none).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct DigestQuery {
    pub week: Option<String>,
}

fn utc_start(day: chrono::NaiveDate) -> String {
    // Midnight in Beijing is 16:00 UTC the day before.
    (day.and_hms_opt(0, 0, 0).unwrap_or_default() - chrono::Duration::hours(8))
        .and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The weekly digest of the caller's region, one sheet per street.
#[utoipa::path(get, path = "/api/v1/requests/digest.xlsx", tag = "requests", params(DigestQuery),
    responses((status = 200, description = "xlsx"), (status = 403), (status = 422)))]
pub async fn export_xlsx(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<DigestQuery>,
) -> Result<Response, ApiError> {
    let today = huanxin_store::today();
    let (monday, sunday) = match q.week.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        None => rules::last_week(today),
        Some(w) => {
            let day = chrono::NaiveDate::parse_from_str(w, "%Y-%m-%d").map_err(|_| ApiError::field("week", w, reason!("field.date")))?;
            if !huanxin_domain::grids::week_in_range(day) {
                return Err(ApiError::field("week", w, reason!("grids.week_range")));
            }
            let monday = huanxin_domain::grids::week_of(day);
            (monday, monday + chrono::Duration::days(6))
        }
    };
    let requests = st.db.digest_requests(&cu.scope, &utc_start(monday), &utc_start(sunday + chrono::Duration::days(1))).await?;
    let rows: Vec<DigestRow> = requests
        .iter()
        .map(|r| DigestRow {
            community: r.community_code.clone(),
            category: r.category.clone(),
            status: Status::parse(&r.status).unwrap_or(Status::Submitted),
            due_on: chrono::NaiveDate::parse_from_str(&r.due_on, "%Y-%m-%d").unwrap_or(today),
            answered_on: r.resolved_at.as_deref().and_then(china_day),
            supervised: r.supervised,
            warned: r.warned,
        })
        .collect();
    let weeks = rules::by_street(&rows, today);
    let codes: Vec<String> = weeks.iter().map(|w| w.street.clone()).chain(requests.iter().map(|r| r.community_code.clone())).collect();
    let names = st.db.region_names(&codes).await?;
    let bytes = write(&weeks, &requests, &names, &super::caller_tree(&st, &cu).await?, monday, sunday)
        .map_err(|e| ApiError::Internal(format!("xlsx: {e}")))?;
    Ok(attachment(bytes, XLSX, &format!("诉求周报-{monday}至{sunday}.xlsx")))
}

fn status_name(s: &str) -> &'static str {
    match s {
        "submitted" => "待受理",
        "in_progress" => "办理中",
        "returned" => "已退回",
        "resolved" => "已答复",
        "closed" => "已办结",
        _ => "",
    }
}

fn channel_name(c: &str) -> &'static str {
    match c {
        "online" => "居民在线",
        "phone" => "电话",
        "wechat" => "微信群",
        "reception" => "接待窗口",
        "letter" => "来信",
        "patrol" => "网格巡查",
        "hotline" => "12345热线",
        "open311" => "开放接口应用",
        _ => "其他",
    }
}

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`, unique in the book.
fn sheet_name(name: &str, taken: &mut Vec<String>) -> String {
    let clean: String = name.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(28).collect();
    let mut n = if clean.is_empty() { "街道".to_string() } else { clean };
    let mut k = 2;
    while taken.contains(&n) {
        n = format!("{}{k}", n.chars().take(26).collect::<String>());
        k += 1;
    }
    taken.push(n.clone());
    n
}

fn write(
    weeks: &[StreetWeek],
    requests: &[DigestRequest],
    names: &HashMap<String, String>,
    tree: &huanxin_domain::requests::categories::Tree,
    monday: chrono::NaiveDate,
    sunday: chrono::NaiveDate,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let name = |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_string());
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_font_size(14);
    let alert = Format::new().set_background_color("#FDE2E1");
    let ws = wb.add_worksheet();
    ws.set_name("汇总")?;
    ws.write_string_with_format(0, 0, format!("民生诉求周报（{monday} 至 {sunday}）"), &title)?;
    let head = ["街道", "登记件数", "已答复", "按期答复", "按期率(%)", "逾期未办结", "挂牌督办", "预警", "主要类别"];
    for (c, h) in head.iter().enumerate() {
        ws.write_string_with_format(2, c as u16, *h, &bold)?;
    }
    ws.set_column_width(0, 18)?;
    ws.set_column_width(8, 40)?;
    for (i, w) in weeks.iter().enumerate() {
        let row = 3 + i as u32;
        ws.write_string(row, 0, name(&w.street))?;
        for (c, n) in [w.filed, w.answered, w.answered_on_time].iter().enumerate() {
            ws.write_number(row, 1 + c as u16, f64::from(*n))?;
        }
        ws.write_number(row, 4, w.on_time_rate())?;
        if w.late_open > 0 {
            ws.write_number_with_format(row, 5, f64::from(w.late_open), &alert)?;
        } else {
            ws.write_number(row, 5, 0.0)?;
        }
        ws.write_number(row, 6, f64::from(w.supervised))?;
        ws.write_number(row, 7, f64::from(w.warned))?;
        let top: Vec<String> = w.groups.iter().take(3).map(|(g, n)| format!("{} {n}", tree.zh(g))).collect();
        ws.write_string(row, 8, top.join("、"))?;
    }
    if weeks.is_empty() {
        ws.write_string(3, 0, "本周无诉求")?;
    }
    let mut taken = vec!["汇总".to_string()];
    for w in weeks {
        let ws = wb.add_worksheet();
        ws.set_name(sheet_name(&name(&w.street), &mut taken))?;
        ws.write_string_with_format(0, 0, format!("{} 民生诉求（{monday} 至 {sunday}）", name(&w.street)), &title)?;
        let head = ["编号", "登记时间", "社区", "小区", "类别", "渠道", "状态", "办理期限", "答复日期", "承办单位", "督办", "预警"];
        for (c, h) in head.iter().enumerate() {
            ws.write_string_with_format(2, c as u16, *h, &bold)?;
        }
        ws.set_column_width(1, 17)?;
        ws.set_column_width(2, 16)?;
        ws.set_column_width(3, 16)?;
        ws.set_column_width(9, 22)?;
        let mine = requests.iter().filter(|r| rules::street_of(&r.community_code) == w.street);
        for (i, r) in mine.enumerate() {
            let row = 3 + i as u32;
            ws.write_number(row, 0, r.id as f64)?;
            let at = huanxin_domain::requests::open311::to_beijing(&r.created_at).unwrap_or_default();
            ws.write_string(row, 1, at.get(..16).unwrap_or(&at).replace('T', " "))?;
            ws.write_string(row, 2, name(&r.community_code))?;
            ws.write_string(row, 3, &r.estate_name)?;
            ws.write_string(row, 4, tree.zh(&r.category))?;
            ws.write_string(row, 5, channel_name(&r.channel))?;
            ws.write_string(row, 6, status_name(&r.status))?;
            ws.write_string(row, 7, &r.due_on)?;
            ws.write_string(row, 8, r.resolved_at.as_deref().and_then(china_day).map(|d| d.to_string()).unwrap_or_default())?;
            ws.write_string(row, 9, &r.unit_name)?;
            ws.write_string(row, 10, if r.supervised { "是" } else { "" })?;
            ws.write_string(row, 11, if r.warned { "是" } else { "" })?;
        }
    }
    wb.save_to_buffer()
}
