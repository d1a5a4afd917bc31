//! The demo: the 惠安县 registry from a fixed seed, one account per role, and (unless asked for
//! an empty start) the county's renewal programme 2021–2026 in full swing, with two lighter
//! neighbours of Quanzhou.

pub mod desk;
mod pictures;
pub mod programme;

use crate::auth::hash_password;
use crate::error::ApiError;
use crate::AppState;
pub use desk::DemoError;
use desk::Desk;
use huanxin_domain::access::{Role, Scope};
use huanxin_domain::regions::RegionCode;
use huanxin_store::accounts::NewUser;
use huanxin_store::audit::Actor;
use huanxin_store::Db;
use programme::{Cohort, Companies, CountyCast, DemoEstate, Programme, Rest};

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "huanxin-demo";
/// Seed of the demo data.
pub const DEMO_SEED: u64 = 20_190_101;
/// Number of demo estates.
pub const DEMO_ESTATES: usize = 380;

/// The demo accounts: user name, display name, role, region.
pub const DEMO_USERS: &[(&str, &str, Role, &str)] = &[
    ("ministry_admin", "住建部管理员", Role::MinistryAdmin, "000000000000"),
    ("ministry_staff", "住建部工作人员", Role::MinistryStaff, "000000000000"),
    ("province_admin", "福建省住建厅管理员", Role::ProvinceAdmin, "350000000000"),
    ("province_staff", "福建省住建厅工作人员", Role::ProvinceStaff, "350000000000"),
    ("city_admin", "泉州市住建局管理员", Role::CityAdmin, "350500000000"),
    ("city_staff", "泉州市住建局工作人员", Role::CityStaff, "350500000000"),
    ("county_admin", "惠安县住建局管理员", Role::CountyAdmin, "350521000000"),
    ("county_staff", "惠安县住建局工作人员", Role::CountyStaff, "350521000000"),
    ("street_staff", "螺城镇工作人员", Role::StreetStaff, "350521100000"),
    ("community_staff", "北关社区工作人员", Role::CommunityStaff, "350521100001"),
    ("designer", "惠安县建筑设计院", Role::Designer, "350521000000"),
    ("contractor", "惠安建工集团有限公司", Role::Contractor, "350521000000"),
    ("supervisor", "惠安工程监理有限公司", Role::Supervisor, "350521000000"),
    ("property_company", "惠安安居物业服务有限公司", Role::PropertyCompany, "350521000000"),
    ("water_company", "惠安县自来水公司", Role::Utility, "350521000000"),
    ("gas_company", "惠安华润燃气有限公司", Role::Utility, "350521000000"),
    ("grid_worker", "北关社区网格员", Role::GridWorker, "350521100001"),
    ("resident", "北关社区居民", Role::Resident, "350521100001"),
];

/// Accounts the full demo adds: the neighbours' desks and a second set of companies.
pub const DEMO_MORE_USERS: &[(&str, &str, Role, &str)] = &[
    ("licheng_admin", "鲤城区住建局管理员", Role::CountyAdmin, "350502000000"),
    ("licheng_staff", "鲤城区住建局工作人员", Role::CountyStaff, "350502000000"),
    ("jinjiang_admin", "晋江市住建局管理员", Role::CountyAdmin, "350582000000"),
    ("jinjiang_staff", "晋江市住建局工作人员", Role::CountyStaff, "350582000000"),
    ("contractor_b", "泉州城建工程有限公司", Role::Contractor, "350521000000"),
    ("supervisor_b", "闽南工程监理有限公司", Role::Supervisor, "350521000000"),
    ("designer_b", "泉州市建筑设计院", Role::Designer, "350521000000"),
    ("licheng_contractor", "鲤城建设工程有限公司", Role::Contractor, "350502000000"),
    ("licheng_supervisor", "鲤城工程监理有限公司", Role::Supervisor, "350502000000"),
    ("licheng_designer", "鲤城规划设计院", Role::Designer, "350502000000"),
    ("jinjiang_contractor", "晋江城建集团有限公司", Role::Contractor, "350582000000"),
    ("jinjiang_supervisor", "晋江建设监理有限公司", Role::Supervisor, "350582000000"),
    ("jinjiang_designer", "晋江市建筑设计院", Role::Designer, "350582000000"),
];

/// Estates of the two neighbours (鲤城区, 晋江市).
pub const NEIGHBOUR_ESTATES: [usize; 2] = [80, 50];

/// The desks of the three demo counties.
pub const CASTS: [CountyCast; 3] = [
    CountyCast {
        region: "350521000000",
        admin: "county_admin",
        staff: "county_staff",
        street: Some(("street_staff", "350521100000")),
        community: Some(("community_staff", "350521100001")),
        certificate_place: "惠安县",
        companies: Companies {
            contractor: ("contractor_b", "泉州城建工程有限公司"),
            supervisor: ("supervisor_b", "闽南工程监理有限公司"),
            designer: ("designer_b", "泉州市建筑设计院"),
        },
    },
    CountyCast {
        region: "350502000000",
        admin: "licheng_admin",
        staff: "licheng_staff",
        street: None,
        community: None,
        certificate_place: "泉州市",
        companies: Companies {
            contractor: ("licheng_contractor", "鲤城建设工程有限公司"),
            supervisor: ("licheng_supervisor", "鲤城工程监理有限公司"),
            designer: ("licheng_designer", "鲤城规划设计院"),
        },
    },
    CountyCast {
        region: "350582000000",
        admin: "jinjiang_admin",
        staff: "jinjiang_staff",
        street: None,
        community: None,
        certificate_place: "晋江市",
        companies: Companies {
            contractor: ("jinjiang_contractor", "晋江城建集团有限公司"),
            supervisor: ("jinjiang_supervisor", "晋江建设监理有限公司"),
            designer: ("jinjiang_designer", "晋江市建筑设计院"),
        },
    },
];

/// How big a programme to build: the resting stages of each plan year's cohort per county, and
/// the reserve pool.
pub struct Size {
    pub cohorts: Vec<Vec<Cohort>>,
    pub reserve: [usize; 3],
}

impl Size {
    /// The demo's programme: about 155 estates of 惠安县 over every stage, 15 and 10 of the neighbours.
    pub fn full() -> Size {
        use Rest::*;
        let building = |late_nodes, failed_check, change_overdue| Building { late_nodes, failed_check, change_overdue };
        let huian = vec![
            (2021, vec![(Upkeep, 20)]),
            (2022, vec![(Upkeep, 22)]),
            (2023, vec![(Upkeep, 20), (Reviewed, 5)]),
            (2024, vec![(Upkeep, 24), (ReviewTasksOpen, 2), (Reviewed, 2)]),
            (2025, vec![(Upkeep, 12), (ReviewTasksOpen, 6), (Reviewed, 12)]),
            (
                2026,
                vec![
                    (VoteOpen, 3),
                    (Accepted, 6),
                    (Completed, 3),
                    (building(false, false, false), 4),
                    (building(true, false, false), 2),
                    (building(false, true, false), 1),
                    (building(false, false, true), 1),
                    (InApproval { late: true }, 1),
                    (InApproval { late: false }, 3),
                    (VoteFailed, 1),
                    (Notice2Open, 2),
                    (Notice1Open, 2),
                    (SchemeDrafted, 2),
                    (SurveyOpen, 3),
                ],
            ),
        ];
        let neighbour = |n: usize| {
            vec![
                (2023, vec![(Upkeep, n)]),
                (2024, vec![(Upkeep, n)]),
                (2025, vec![(Reviewed, n)]),
                (2026, vec![(Accepted, 1), (building(false, false, false), n), (VoteOpen, 1), (Notice1Open, 1)]),
            ]
        };
        Size { cohorts: vec![huian, neighbour(4), neighbour(2)], reserve: [15, 4, 2] }
    }

    /// One estate at each resting stage of the last two years, for tests.
    pub fn small() -> Size {
        use Rest::*;
        let huian = vec![
            (2025, vec![(Upkeep, 1), (ReviewTasksOpen, 1)]),
            (
                2026,
                vec![
                    (VoteOpen, 1),
                    (Accepted, 1),
                    (Completed, 1),
                    (Building { late_nodes: false, failed_check: false, change_overdue: false }, 1),
                    (Building { late_nodes: true, failed_check: true, change_overdue: true }, 1),
                    (InApproval { late: true }, 1),
                    (VoteFailed, 1),
                    (Notice2Open, 1),
                    (SurveyOpen, 1),
                ],
            ),
        ];
        Size { cohorts: vec![huian, vec![(2026, vec![(Accepted, 1)])], vec![]], reserve: [2, 1, 0] }
    }
}

fn to_api(rows: Vec<huanxin_store::estates::RowError>) -> ApiError {
    ApiError::ImportRejected(rows)
}

/// What the demo made.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// Estates created in the registry (0 when data was already there).
    pub estates: usize,
    /// What the programme built (empty with `--empty`).
    pub programme: programme::Built,
}

/// Loads the demo if the registry is empty — the registry of 惠安县 and, with `size`, its
/// neighbours and the programme in full swing up to `today` — and creates missing demo accounts.
/// `progress` hears the share done (0 to 1).
pub async fn load_demo(
    st: &AppState,
    year: i64,
    today: chrono::NaiveDate,
    size: Option<Size>,
    progress: Box<dyn FnMut(f64) + '_>,
) -> Result<DemoSummary, DemoError> {
    let db = &st.db;
    let have = db.scalar("SELECT COUNT(*) FROM estates", vec![]).await?;
    // The counties the demo builds must be loaded (`regions`): said before anything is written.
    let needed: &[&str] = if size.is_some() { &["350521", "350502", "350582"] } else { &["350521", "350502"] };
    if have == 0 {
        let mut missing = Vec::new();
        for county in needed {
            // Loaded with its streets and communities, not the county's own row alone.
            let below =
                db.scalar("SELECT COUNT(*) FROM regions WHERE parent_code LIKE $1", huanxin_store::args![format!("{county}%")]).await?;
            if below == 0 {
                missing.push(*county);
            }
        }
        if !missing.is_empty() {
            return Err(DemoError::RegionsMissing(format!(
                "the demo needs the counties {} loaded; not loaded: {}. Set regions = \"all\" (the default) or HUANXIN_REGIONS={}",
                needed.join(","),
                missing.join(","),
                needed.join(",")
            )));
        }
    }
    let mut summary = DemoSummary::default();
    if have == 0 {
        summary.estates = load_registry(db, year, &huanxin_datagen::HUIAN, DEMO_SEED, DEMO_ESTATES).await?;
        if size.is_some() {
            for (k, spec) in [&huanxin_datagen::LICHENG, &huanxin_datagen::JINJIANG].into_iter().enumerate() {
                summary.estates += load_registry(db, year, spec, DEMO_SEED + 1 + k as u64, NEIGHBOUR_ESTATES[k]).await?;
            }
        }
    }
    let full = size.is_some() && have == 0;
    // The neighbours' desks and companies come with the programme only: on a folder that already
    // holds data they would be attached to nothing.
    let users: Vec<_> = DEMO_USERS.iter().chain(if full { DEMO_MORE_USERS } else { &[] }).collect();
    let mut ids = std::collections::HashMap::new();
    let actor = Actor::system("demo");
    let hash = hash_password(DEMO_PASSWORD)?;
    for (name, display, role, region) in users {
        if let Some(u) = db.user_by_name(name).await? {
            ids.insert(name.to_string(), u.id);
            continue;
        }
        let region = RegionCode::parse(region).map_err(|e| DemoError::Setup(e.to_string()))?;
        let u = db
            .create_user(
                &actor,
                &NewUser {
                    username: name.to_string(),
                    display_name: display.to_string(),
                    password_hash: hash.clone(),
                    role: *role,
                    region,
                    phone: String::new(),
                },
            )
            .await?;
        ids.insert(name.to_string(), u.id);
        if role.is_attachment_scoped() && size.is_none() {
            // Companies and the resident see the first estate of 北关社区.
            let first = db.scalar("SELECT MIN(id) FROM estates WHERE community_code = '350521100001'", vec![]).await?;
            if first > 0 {
                db.attach_user_to_estate(&actor, u.id, first).await?;
            }
        }
    }
    if let (true, Some(size)) = (full, size) {
        let mut desk = Desk::new(st);
        for (name, id) in &ids {
            desk.sign_in(st, name, *id).await?;
        }
        let result = build_programme(st, &mut desk, today, size, ids, progress).await;
        huanxin_store::clock::hold(None);
        desk.sign_out_all().await;
        summary.programme = result?;
        // What went late in the programme's history is under supervision, as the server's
        // escalation would have put it.
        db.escalate_late_requests(today).await?;
    }
    Ok(summary)
}

async fn build_programme(
    st: &AppState,
    desk: &mut Desk,
    today: chrono::NaiveDate,
    size: Size,
    ids: std::collections::HashMap<String, i64>,
    progress: Box<dyn FnMut(f64) + '_>,
) -> Result<programme::Built, DemoError> {
    let mut estates: Vec<Vec<DemoEstate>> = vec![Vec::new(); CASTS.len()];
    for (c, cast) in CASTS.iter().enumerate() {
        let prefix = cast.region.trim_end_matches('0');
        let rows = st.db.estates_for_demo(prefix).await?;
        estates[c] = rows;
    }
    let mut p = Programme::new(desk, today, DEMO_SEED, &CASTS, ids, progress);
    for (c, cohorts) in size.cohorts.iter().enumerate() {
        p.cast(c, &estates[c], cohorts, size.reserve[c]);
    }
    p.run().await
}

async fn load_registry(db: &Db, year: i64, spec: &huanxin_datagen::CountySpec, seed: u64, n: usize) -> Result<usize, DemoError> {
    let actor = Actor::system("demo");
    let scope = Scope::Region(RegionCode::country());
    let data = huanxin_datagen::county(spec, seed, n);
    let mut estates = Vec::new();
    let mut buildings = Vec::new();
    let mut dwellings = Vec::new();
    let mut row = 1;
    for g in &data {
        row += 1;
        estates.push((row, g.estate.validate(year).map_err(ApiError::from)?));
        for b in &g.buildings {
            buildings.push((row, b.estate_code.clone(), b.validate(year).map_err(ApiError::from)?));
        }
        for d in &g.dwellings {
            dwellings.push((row, d.estate_code.clone(), d.building_number.clone(), d.validate().map_err(ApiError::from)?));
        }
    }
    let created = db.import_estates(&actor, &scope, "demo", false, &estates).await.map_err(to_api)?.created;
    db.import_buildings(&actor, &scope, "demo", false, &buildings).await.map_err(to_api)?;
    db.import_dwellings(&actor, &scope, "demo", false, &dwellings).await.map_err(to_api)?;
    Ok(created)
}

/// The demo's devices (`huanxin demo --devices`): on the property company's first estate and the
/// first estates of 惠安县, one of each kind, registered once; returned with their keys for the
/// simulator.
pub async fn demo_devices(st: &AppState) -> Result<Vec<crate::alarms::simulate::SimDevice>, DemoError> {
    use huanxin_domain::alarms::DeviceKind;
    let db = &st.db;
    if db.scalar("SELECT COUNT(*) FROM devices", vec![]).await? == 0 {
        let estates: Vec<(i64,)> = db
            .fetch_all(
                "SELECT id FROM estates WHERE id = (SELECT MIN(ue.estate_id) FROM user_estates ue JOIN users u ON u.id = ue.user_id \
                 WHERE u.username = 'property_company') \
                 OR id IN (SELECT id FROM estates WHERE community_code LIKE '350521%' ORDER BY id LIMIT 10) ORDER BY id",
                vec![],
            )
            .await?;
        let actor = Actor::system("demo");
        let scope = huanxin_domain::access::Scope::Region(RegionCode::country());
        let places = ["1号楼地下室", "1号楼一单元门厅", "地下车库", "小区东门", "非机动车棚", "2号楼电梯"];
        for (estate,) in &estates {
            for (k, kind) in DeviceKind::ALL.iter().enumerate() {
                let new = huanxin_store::alarms::NewDevice {
                    estate_id: *estate,
                    building_id: None,
                    place: places[k % places.len()].into(),
                    kind: *kind,
                    vendor: ["汉威", "海康威视", "大华"][k % 3].into(),
                    model: String::new(),
                    serial: format!("HA-{estate}-{}", kind.as_str().replace('_', "-")),
                    key: crate::random_key(),
                };
                db.register_device(&actor, &scope, &new).await?;
            }
        }
    }
    let held = db.ingest_devices().await?;
    Ok(held
        .into_iter()
        .filter_map(|d| Some(crate::alarms::simulate::SimDevice { kind: DeviceKind::parse(&d.kind)?, serial: d.serial, key: d.device_key }))
        .collect())
}
