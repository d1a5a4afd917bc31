//! The demo: the 惠安县 registry from a fixed seed, and one account per role.

use crate::auth::hash_password;
use crate::error::ApiError;
use huanxin_domain::access::{Role, Scope};
use huanxin_domain::regions::RegionCode;
use huanxin_store::accounts::NewUser;
use huanxin_store::audit::Actor;
use huanxin_store::Db;

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
    ("designer", "设计单位", Role::Designer, "350521000000"),
    ("contractor", "施工单位", Role::Contractor, "350521000000"),
    ("supervisor", "监理单位", Role::Supervisor, "350521000000"),
    ("property_company", "物业公司", Role::PropertyCompany, "350521000000"),
    ("grid_worker", "北关社区网格员", Role::GridWorker, "350521100001"),
    ("resident", "北关社区居民", Role::Resident, "350521100001"),
];

fn to_api(rows: Vec<huanxin_store::estates::RowError>) -> ApiError {
    ApiError::ImportRejected(rows)
}

/// Loads the demo county if the registry is empty and creates missing demo accounts; returns the
/// number of estates created (0 when data was already there).
pub async fn load_demo(db: &Db, year: i64) -> Result<usize, ApiError> {
    let actor = Actor::system("demo");
    let scope = Scope::Region(RegionCode::country());
    let have = db.scalar("SELECT COUNT(*) FROM estates", vec![]).await?;
    let mut created = 0;
    if have == 0 {
        let data = huanxin_datagen::demo_county(DEMO_SEED, DEMO_ESTATES);
        let mut estates = Vec::new();
        let mut buildings = Vec::new();
        let mut dwellings = Vec::new();
        let mut row = 1;
        for g in &data {
            row += 1;
            estates.push((row, g.estate.validate(year)?));
            for b in &g.buildings {
                buildings.push((row, b.estate_code.clone(), b.validate(year)?));
            }
            for d in &g.dwellings {
                dwellings.push((row, d.estate_code.clone(), d.building_number.clone(), d.validate()?));
            }
        }
        created = db.import_estates(&actor, &scope, "demo", false, &estates).await.map_err(to_api)?.created;
        db.import_buildings(&actor, &scope, "demo", false, &buildings).await.map_err(to_api)?;
        db.import_dwellings(&actor, &scope, "demo", false, &dwellings).await.map_err(to_api)?;
    }
    let hash = hash_password(DEMO_PASSWORD)?;
    for (name, display, role, region) in DEMO_USERS {
        if db.user_by_name(name).await?.is_some() {
            continue;
        }
        let region = RegionCode::parse(region).map_err(|e| ApiError::Internal(e.to_string()))?;
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
        if role.is_attachment_scoped() {
            // Companies and the resident see the first estate of 北关社区.
            let first = db.scalar("SELECT MIN(id) FROM estates WHERE community_code = '350521100001'", vec![]).await?;
            if first > 0 {
                db.attach_user_to_estate(&actor, u.id, first).await?;
            }
        }
    }
    Ok(created)
}
