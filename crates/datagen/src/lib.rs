//! Deterministic data: the demo county (惠安县, Fujian, with its real street and community codes)
//! and national-scale registries for benchmarks. Same seed, same data.

use huanxin_domain::estates::{BuildingInput, Datum, DwellingInput, EstateInput, OwnerInput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The demo county: 惠安县, Quanzhou, Fujian.
pub const DEMO_COUNTY: &str = "350521";

/// The real community committees of 惠安县 (from the shipped region dataset), with a rough centre
/// of their town; industrial parks' virtual communities are left out.
pub const DEMO_COMMUNITIES: &[(&str, &str, f64, f64)] = &[
    ("350521100001", "北关社区", 118.7960, 25.0380),
    ("350521100002", "西北社区", 118.7890, 25.0360),
    ("350521100003", "中新社区", 118.7975, 25.0320),
    ("350521100004", "东关社区", 118.8050, 25.0340),
    ("350521100005", "东南社区", 118.8040, 25.0270),
    ("350521100006", "新霞社区", 118.7920, 25.0240),
    ("350521100007", "霞张社区", 118.7850, 25.0260),
    ("350521100008", "霞园社区", 118.7880, 25.0300),
    ("350521100009", "南洲社区", 118.7990, 25.0210),
    ("350521100010", "前型社区", 118.8100, 25.0230),
    ("350521100011", "霞东社区", 118.8080, 25.0300),
    ("350521105001", "东园社区", 118.8620, 25.0480),
    ("350521105002", "龙苍社区", 118.8560, 25.0530),
    ("350521105003", "灵溪社区", 118.8700, 25.0430),
    ("350521105004", "仑山社区", 118.8500, 25.0410),
    ("350521105005", "锦峰社区", 118.8650, 25.0560),
    ("350521105006", "玉坂社区", 118.8740, 25.0500),
    ("350521105007", "凤浦社区", 118.8580, 25.0350),
    ("350521105008", "上林社区", 118.8450, 25.0480),
    ("350521105009", "溪庄社区", 118.8780, 25.0390),
    ("350521105010", "阳光社区", 118.8520, 25.0580),
    ("350521105011", "群青社区", 118.8680, 25.0620),
];

const PREFIXES: &[&str] = &[
    "建设", "人民", "解放", "八一", "螺城", "霞光", "东方", "朝阳", "和平", "文化", "城南", "城北", "新华", "锦绣", "幸福", "红星", "向阳",
    "光明", "学府", "惠南", "龙津", "玉屏", "溪滨", "紫山", "青山",
];
const KINDS: &[&str] = &["新村", "小区", "花园", "宿舍", "公寓", "大院", "里", "楼", "家园", "苑"];
const UNITS: &[&str] =
    &["粮站", "供销社", "水电局", "农机厂", "二轻局", "自来水公司", "电力公司", "邮电局", "教育局", "卫生院", "糖厂", "石材厂"];
const SURNAMES: &[&str] =
    &["陈", "林", "黄", "张", "李", "王", "吴", "刘", "蔡", "杨", "郑", "许", "庄", "曾", "骆", "柯", "苏", "洪", "何", "詹"];
const GIVEN: &[&str] =
    &["明", "华", "芳", "伟", "丽", "强", "敏", "静", "军", "燕", "建国", "秀英", "志强", "海燕", "文斌", "美玲", "国平", "少华"];

/// One generated estate with its buildings and dwellings.
pub struct GeneratedEstate {
    pub estate: EstateInput,
    pub buildings: Vec<BuildingInput>,
    pub dwellings: Vec<DwellingInput>,
}

fn pick<'a, R: Rng>(rng: &mut R, list: &'a [&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

fn person<R: Rng>(rng: &mut R) -> String {
    format!("{}{}", pick(rng, SURNAMES), pick(rng, GIVEN))
}

fn mobile<R: Rng>(rng: &mut R) -> String {
    let heads = ["138", "139", "137", "135", "150", "152", "158", "159", "186", "189", "199"];
    format!("{}{:08}", heads[rng.gen_range(0..heads.len())], rng.gen_range(0..100_000_000u32))
}

/// Build years skewed to the 1980s and 1990s, as in real old-estate stock, with some 2000s.
fn build_year<R: Rng>(rng: &mut R) -> i64 {
    match rng.gen_range(0..100) {
        0..=7 => rng.gen_range(1970..1980),
        8..=37 => rng.gen_range(1980..1990),
        38..=84 => rng.gen_range(1990..2001),
        _ => rng.gen_range(2001..2011),
    }
}

/// A county to generate: its estate code prefix and name, its communities (code, name, centre)
/// with the town each lies in, and how many of them (the first) lie in the county seat.
pub struct CountySpec {
    pub prefix: &'static str,
    pub name: &'static str,
    pub communities: &'static [(&'static str, &'static str, f64, f64)],
    pub seat_communities: usize,
    pub seat_town: &'static str,
    pub other_town: &'static str,
}

/// 惠安县, the demo county.
pub const HUIAN: CountySpec = CountySpec {
    prefix: "HA",
    name: "惠安县",
    communities: DEMO_COMMUNITIES,
    seat_communities: 11,
    seat_town: "螺城镇",
    other_town: "东园镇",
};

/// 鲤城区, Quanzhou's old town: a neighbour for city, province and ministry users to compare.
pub const LICHENG: CountySpec = CountySpec {
    prefix: "LC",
    name: "鲤城区",
    communities: &[
        ("350502001001", "金山社区", 118.5870, 24.9080),
        ("350502001002", "笋浯社区", 118.5800, 24.9050),
        ("350502001003", "水门社区", 118.5840, 24.9020),
        ("350502001004", "东鲁社区", 118.5900, 24.9110),
        ("350502001005", "新门社区", 118.5760, 24.9000),
        ("350502001006", "海清社区", 118.5820, 24.9130),
    ],
    seat_communities: 6,
    seat_town: "海滨街道",
    other_town: "海滨街道",
};

/// 晋江市: the second neighbour.
pub const JINJIANG: CountySpec = CountySpec {
    prefix: "JJ",
    name: "晋江市",
    communities: &[("350582001004", "青新社区", 118.5520, 24.7820)],
    seat_communities: 1,
    seat_town: "青阳街道",
    other_town: "青阳街道",
};

/// The demo county: `estates` estates (at least 300 for the demo), deterministic for a seed.
pub fn demo_county(seed: u64, estates: usize) -> Vec<GeneratedEstate> {
    county(&HUIAN, seed, estates)
}

/// `estates` estates of a county, deterministic for a seed.
pub fn county(spec: &CountySpec, seed: u64, estates: usize) -> Vec<GeneratedEstate> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(estates);
    for i in 0..estates {
        // The county seat (螺城镇) holds most of the old stock.
        let seat = spec.seat_communities.min(spec.communities.len());
        let ci = if seat == spec.communities.len() || rng.gen_bool(0.72) {
            rng.gen_range(0..seat)
        } else {
            rng.gen_range(seat..spec.communities.len())
        };
        let (community, cname, clon, clat) = spec.communities[ci];
        let mut name;
        loop {
            name = if rng.gen_bool(0.3) {
                format!("{}{}", pick(&mut rng, UNITS), pick(&mut rng, &["宿舍", "宿舍楼", "家属院", "生活区"]))
            } else {
                format!("{}{}", pick(&mut rng, PREFIXES), pick(&mut rng, KINDS))
            };
            if names.insert(name.clone()) {
                break;
            }
            if rng.gen_bool(0.5) {
                name = format!("{name}{}期", ["二", "三", "四"][rng.gen_range(0..3)]);
                if names.insert(name.clone()) {
                    break;
                }
            }
        }
        let year = build_year(&mut rng);
        let single = rng.gen_bool(0.12);
        let nb = if single { 1 } else { rng.gen_range(2..=10) };
        let code = format!("{}{:04}", spec.prefix, i + 1);
        let mut buildings = Vec::new();
        let mut dwellings = Vec::new();
        for b in 0..nb {
            let floors = if year < 1990 { rng.gen_range(4..=6) } else { rng.gen_range(5..=7) };
            let stairwells = rng.gen_range(1..=3);
            let number = format!("{}号楼", b + 1);
            buildings.push(BuildingInput {
                estate_code: code.clone(),
                number: number.clone(),
                floors: Some(floors),
                stairwells: Some(stairwells),
                has_lift: rng.gen_bool(0.04),
                structure: if year < 1995 { "砖混" } else { pick(&mut rng, &["砖混", "框架"]) }.into(),
                build_year: Some(year),
            });
            let per_floor = rng.gen_range(2..=3);
            for s in 1..=stairwells {
                for f in 1..=floors {
                    for u in 1..=per_floor {
                        let area = f64::from(rng.gen_range(4200..11000u32)) / 100.0;
                        let n_owners = match rng.gen_range(0..10) {
                            0..=5 => 1,
                            6..=8 => 2,
                            _ => 0,
                        };
                        let owners =
                            (0..n_owners).map(|_| OwnerInput { name: person(&mut rng), phone: mobile(&mut rng), share_bp: None }).collect();
                        dwellings.push(DwellingInput {
                            estate_code: code.clone(),
                            building_number: number.clone(),
                            stairwell: Some(s),
                            floor: Some(f),
                            number: format!("{s}-{f}{u:02}"),
                            exclusive_area_m2: Some(area),
                            owners,
                            occupancy: pick(&mut rng, &["自住", "自住", "自住", "出租", "空置"]).into(),
                            residents_60_plus: Some(if rng.gen_bool(0.35) { rng.gen_range(1..=2) } else { 0 }),
                        });
                    }
                }
            }
        }
        let area: f64 = dwellings.iter().filter_map(|d| d.exclusive_area_m2).sum::<f64>() * 1.25;
        let lon = clon + rng.gen_range(-0.006..0.006);
        let lat = clat + rng.gen_range(-0.005..0.005);
        out.push(GeneratedEstate {
            estate: EstateInput {
                code: code.clone(),
                name: name.clone(),
                aliases: vec![],
                address: format!(
                    "{}{}{}{}号",
                    spec.name,
                    if ci < seat { spec.seat_town } else { spec.other_town },
                    cname.trim_end_matches("社区"),
                    rng.gen_range(1..300)
                ),
                community_code: community.into(),
                lon: Some((lon * 1e6).round() / 1e6),
                lat: Some((lat * 1e6).round() / 1e6),
                datum: Datum::Wgs84,
                outline: None,
                build_year: Some(year),
                building_count: Some(nb),
                households: Some(dwellings.len() as i64),
                floor_area_m2: Some((area * 100.0).round() / 100.0),
                ownership_type: pick(&mut rng, &["房改房", "房改房", "商品房", "单位自管", "直管公房", "混合产权"]).into(),
                management_status: pick(&mut rng, &["无物业", "无物业", "居民自治", "社区托管", "专业物业"]).into(),
                has_owners_committee: rng.gen_bool(0.3),
                person_in_charge: person(&mut rng),
                phone: mobile(&mut rng),
            },
            buildings,
            dwellings,
        });
    }
    out
}

/// One estate row of a national-scale registry, as CSV fields in the estate import's column order.
pub fn national_estate_row<R: Rng>(rng: &mut R, i: usize, community_code: &str, lon: f64, lat: f64) -> Vec<String> {
    vec![
        format!("N{i:07}"),
        format!("{}{}{}", pick(rng, PREFIXES), pick(rng, KINDS), i),
        String::new(),
        format!("{}路{}号", pick(rng, PREFIXES), rng.gen_range(1..500)),
        community_code.to_string(),
        format!("{:.6}", lon + rng.gen_range(-0.02..0.02)),
        format!("{:.6}", lat + rng.gen_range(-0.02..0.02)),
        "WGS84".into(),
        build_year(rng).to_string(),
        rng.gen_range(1..12).to_string(),
        rng.gen_range(20..600).to_string(),
        format!("{}.{:02}", rng.gen_range(1000..60000), rng.gen_range(0..100)),
        pick(rng, &["房改房", "商品房", "单位自管", "直管公房"]).into(),
        pick(rng, &["无物业", "居民自治", "专业物业"]).into(),
        pick(rng, &["是", "否"]).into(),
        person(rng),
        mobile(rng),
    ]
}

/// A seeded generator for benchmarks.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_is_deterministic_valid_and_sized() {
        let a = demo_county(7, 310);
        let b = demo_county(7, 310);
        assert_eq!(a.len(), 310);
        assert_eq!(a[17].estate, b[17].estate);
        let dwellings: usize = a.iter().map(|e| e.dwellings.len()).sum();
        assert!((40_000..90_000).contains(&dwellings), "{dwellings} dwellings");
        for e in &a {
            e.estate.validate(2026).unwrap();
            for b in &e.buildings {
                b.validate(2026).unwrap();
            }
            for d in e.dwellings.iter().take(5) {
                d.validate().unwrap();
            }
        }
        let codes: std::collections::HashSet<_> = a.iter().map(|e| &e.estate.code).collect();
        assert_eq!(codes.len(), 310);
    }
}
