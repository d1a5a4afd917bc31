//! Devices from a spreadsheet (issue 17 §1): an installer's list of devices over many estates,
//! xlsx or csv, with the registry's row-level report: every refused cell named by row and column,
//! and nothing registered unless every row is right. The answer carries each new device's key once.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::tabular::{self, Column};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use huanxin_domain::access::Permission;
use huanxin_domain::alarms::telemetry::valid_serial;
use huanxin_domain::alarms::DeviceKind;
use huanxin_domain::reason;
use huanxin_store::alarms::NewDevice;
use huanxin_store::estates::RowError;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// The columns of the device list.
pub const COLUMNS: [Column; 7] = [
    Column { key: "estate_code", header: "小区编码", required: true, example: "350521-0001" },
    Column { key: "kind", header: "设备类型", required: true, example: "可燃气体探测器" },
    Column { key: "serial", header: "设备序列号", required: true, example: "GD-0001" },
    Column { key: "building_number", header: "楼栋号", required: false, example: "3" },
    Column { key: "place", header: "安装位置", required: false, example: "3号楼地下室" },
    Column { key: "vendor", header: "厂商", required: false, example: "汉威" },
    Column { key: "model", header: "型号", required: false, example: "JT-KB" },
];

/// Most rows in one list.
const MAX_ROWS: usize = 20_000;

/// A device registered by the import, with its key (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportedDevice {
    pub row: usize,
    pub id: i64,
    pub estate_code: String,
    pub serial: String,
    pub kind: String,
    pub place: String,
    pub device_key: String,
}

/// What the import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceImport {
    pub created: usize,
    pub devices: Vec<ImportedDevice>,
}

/// The template of the device list (xlsx, Chinese headers, an example row).
#[utoipa::path(get, path = "/api/v1/devices/template.xlsx", tag = "alarms",
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn template() -> Result<Response, ApiError> {
    Ok(crate::estates::attachment(tabular::template_xlsx("设备", &COLUMNS)?, crate::estates::XLSX, "设备导入模板.xlsx"))
}

/// Registers the devices of a list (xlsx or csv, field `file`) on estates in scope, all or none.
#[utoipa::path(post, path = "/api/v1/devices/import", tag = "alarms",
    request_body(content_type = "multipart/form-data", description = "field `file`: xlsx or csv with 小区编码, 设备类型, 设备序列号, 楼栋号, 安装位置, 厂商, 型号"),
    responses((status = 200, description = "the devices registered, each key shown once", body = DeviceImport), (status = 403), (status = 413), (status = 422, description = "the rows refused, by row and column; nothing registered")))]
pub async fn import(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    crate::error::ApiMultipart(multipart): crate::error::ApiMultipart,
) -> Result<Json<DeviceImport>, ApiError> {
    cu.require(Permission::WriteRegistry)?;
    let (_, files) = crate::construction::read_form(multipart).await?;
    let Some((name, bytes)) = files.into_iter().next() else {
        return Err(ApiError::field("file", "", reason!("field.file_missing")));
    };
    if bytes.is_empty() {
        return Err(ApiError::field("file", name, reason!("field.file_empty")));
    }
    let table = if tabular::is_zip(&bytes) {
        tabular::read_xlsx(&bytes, &COLUMNS, None)?
    } else if tabular::is_xls(&bytes) {
        tabular::read_xls(&bytes, &COLUMNS, None)?
    } else {
        tabular::read_csv(&bytes, &COLUMNS)?
    };
    let positions = table.column_positions(&COLUMNS).map_err(ApiError::ImportRejected)?;
    if table.rows.len() > MAX_ROWS {
        return Err(ApiError::field("file", table.rows.len(), reason!("field.at_most", max = MAX_ROWS)));
    }
    let cell = |cells: &[String], key: &str| -> String {
        COLUMNS
            .iter()
            .position(|c| c.key == key)
            .and_then(|i| positions[i])
            .and_then(|p| cells.get(p))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let codes: Vec<String> =
        table.rows.iter().map(|(_, c)| cell(c, "estate_code")).collect::<HashSet<_>>().into_iter().filter(|c| !c.is_empty()).collect();
    let places = st.db.device_import_places(&cu.scope, &codes).await?;
    let serials: Vec<String> = table.rows.iter().map(|(_, c)| cell(c, "serial")).filter(|s| valid_serial(s)).collect();
    let taken = st.db.taken_serials(&serials).await?;
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut devices = Vec::new();
    let mut shown = Vec::new();
    for (row, cells) in &table.rows {
        let mut refuse = |column: &str, value: &str, why| errors.push(RowError::new(*row, column, value, why));
        let code = cell(cells, "estate_code");
        let place = places.get(&code);
        if place.is_none() {
            refuse("小区编码", &code, reason!("field.no_such_estate"));
        }
        let kind_text = cell(cells, "kind");
        let kind = DeviceKind::parse(&kind_text);
        if kind.is_none() {
            refuse("设备类型", &kind_text, reason!("alarms.kind"));
        }
        let serial = cell(cells, "serial");
        if !valid_serial(&serial) {
            refuse("设备序列号", &serial, reason!("alarms.serial_form"));
        } else if taken.contains(&serial) {
            refuse("设备序列号", &serial, reason!("alarms.serial_taken"));
        } else if let Some(first) = seen.insert(serial.clone(), *row) {
            refuse("设备序列号", &serial, reason!("alarms.serial_twice", row = first));
        }
        let number = cell(cells, "building_number");
        let building_id = match (place, number.is_empty()) {
            (_, true) | (None, _) => None,
            (Some(p), false) => {
                let found = p.buildings.get(&number).copied();
                if found.is_none() {
                    refuse("楼栋号", &number, reason!("field.not_building_estate"));
                }
                found
            }
        };
        let mut text = |key: &str, header: &str, max: usize| {
            let v = cell(cells, key);
            if v.chars().count() > max || v.chars().any(char::is_control) {
                refuse(header, &v, reason!("field.at_most_chars", max = max));
            }
            v
        };
        let (place_text, vendor, model) = (text("place", "安装位置", 100), text("vendor", "厂商", 50), text("model", "型号", 50));
        if let (Some(p), Some(kind)) = (place, kind) {
            let key = crate::random_key();
            shown.push((*row, code.clone(), key.clone()));
            devices.push((
                NewDevice { estate_id: p.estate_id, building_id, place: place_text, kind, vendor, model, serial, key },
                p.community_code.clone(),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::ImportRejected(errors));
    }
    let made = st.db.register_devices(&cu.actor(), &devices).await?;
    let devices: Vec<ImportedDevice> = made
        .into_iter()
        .zip(shown)
        .map(|(d, (row, estate_code, device_key))| ImportedDevice {
            row,
            id: d.id,
            estate_code,
            serial: d.serial,
            kind: d.kind,
            place: d.place,
            device_key,
        })
        .collect();
    Ok(Json(DeviceImport { created: devices.len(), devices }))
}
