//! 12345 hotline work orders (issue 16, part 1): finding the estate a work order's address names,
//! by the estate's name, its aliases and its address, and reading the call's time.

use chrono::{NaiveDate, NaiveDateTime};

/// An estate as the address matcher sees it.
#[derive(Debug, Clone)]
pub struct Place {
    pub id: i64,
    pub name: String,
    /// Other names (a former name, what neighbours call it).
    pub aliases: Vec<String>,
    pub address: String,
}

/// Where an address points.
#[derive(Debug, Clone, PartialEq)]
pub enum AddressMatch {
    /// One estate, clearly.
    One(i64),
    /// Several equally likely: a clerk chooses among them.
    Several(Vec<i64>),
    /// None: a clerk finds it.
    None,
}

/// An estate's address is taken as the same place when at least this share of its character pairs
/// are in the work order's address.
pub const ADDRESS_SIMILARITY: f64 = 0.6;

/// Text compared without spaces, punctuation, and the 小区/社区/花园-type words callers add or drop.
fn plain(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation() && !"，。、（）()·-—#".contains(*c)).collect();
    s.replace("小区", "")
}

fn pairs(s: &str) -> Vec<(char, char)> {
    let c: Vec<char> = s.chars().collect();
    let mut p: Vec<(char, char)> = c.windows(2).map(|w| (w[0], w[1])).collect();
    p.sort_unstable();
    p.dedup();
    p
}

/// The share of `part`'s character pairs found in `whole` (0 to 1).
fn covered(part: &str, whole: &str) -> f64 {
    let p = pairs(part);
    if p.is_empty() {
        return 0.0;
    }
    let w = pairs(whole);
    p.iter().filter(|x| w.binary_search(x).is_ok()).count() as f64 / p.len() as f64
}

/// How strongly an address names an estate: its name or an alias written in the address counts
/// by the name's length (a longer name is a surer match; under two characters says nothing); else
/// its address, when most of it is in the work order's address, counts by that share.
pub fn score(place: &Place, address: &str) -> f64 {
    let written: String = address.chars().filter(|c| !c.is_whitespace()).collect();
    let address = plain(address);
    // A name as written, or without 小区 when what is left still says something (螺城小区 without
    // 小区 is 螺城, the town: no name of an estate).
    let named = std::iter::once(&place.name)
        .chain(place.aliases.iter())
        .flat_map(|n| {
            let whole: String = n.chars().filter(|c| !c.is_whitespace()).collect();
            let short = plain(n);
            [(whole, 2, &written), (short, 3, &address)]
        })
        .filter(|(n, least, within)| n.chars().count() >= *least && within.contains(n.as_str()))
        .map(|(n, _, _)| 10.0 + n.chars().count() as f64)
        .fold(0.0, f64::max);
    if named > 0.0 {
        return named;
    }
    let street = plain(&place.address);
    let share = if street.chars().count() >= 4 { covered(&street, &address) } else { 0.0 };
    if share >= ADDRESS_SIMILARITY {
        share
    } else {
        0.0
    }
}

/// The estate an address names: the best score when it stands alone; the equals when several
/// share it; none when no estate scores.
pub fn match_address(places: &[Place], address: &str) -> AddressMatch {
    let mut best = 0.0;
    let mut found: Vec<i64> = Vec::new();
    for p in places {
        let s = score(p, address);
        if s <= 0.0 {
            continue;
        }
        if s > best + 1e-9 {
            best = s;
            found = vec![p.id];
        } else if (s - best).abs() <= 1e-9 {
            found.push(p.id);
        }
    }
    match found.len() {
        0 => AddressMatch::None,
        1 => AddressMatch::One(found[0]),
        _ => AddressMatch::Several(found),
    }
}

/// Reads a call's time as hotline systems export it: `2026-11-02 08:15[:30]`, with `/` or `.`,
/// or `2026年11月2日 8:15`, or a day alone (taken at midnight); Beijing time.
pub fn call_time(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim().replace(['/', '.', '年', '月'], "-").replace(['日', 'T'], " ");
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(&t, f) {
            return Some(d);
        }
    }
    NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn place(id: i64, name: &str, aliases: &[&str], address: &str) -> Place {
        Place { id, name: name.into(), aliases: aliases.iter().map(|a| a.to_string()).collect(), address: address.into() }
    }

    fn places() -> Vec<Place> {
        vec![
            place(1, "北关小区", &["北关新村"], "螺城镇北关街18号"),
            place(2, "霞光苑", &[], "螺城镇霞光路66号"),
            place(3, "建设新村", &["建设村"], "螺城镇建设路2号"),
            place(4, "建设新村", &[], "黄塘镇建设路9号"),
        ]
    }

    #[test]
    fn addresses_find_their_estate_by_name_alias_or_address() {
        let p = places();
        assert_eq!(match_address(&p, "惠安县螺城镇北关小区3号楼"), AddressMatch::One(1));
        assert_eq!(match_address(&p, "北关新村5栋"), AddressMatch::One(1), "by its alias");
        assert_eq!(match_address(&p, "惠安县霞光路66号院内"), AddressMatch::One(2), "by its address");
        assert_eq!(match_address(&p, "建设新村2号楼"), AddressMatch::Several(vec![3, 4]), "two of that name: a clerk chooses");
        assert_eq!(match_address(&p, "城南菜市场门口"), AddressMatch::None);
        assert_eq!(match_address(&p, "霞光 苑 1号楼"), AddressMatch::One(2), "spaces do not hide a name");
        let town = [place(9, "螺城小区", &[], "螺城镇城东路1号")];
        assert_eq!(match_address(&town, "惠安县螺城镇幸运路88号金桂苑"), AddressMatch::None, "the town's name is no estate's");
        assert_eq!(match_address(&town, "螺城小区5号楼"), AddressMatch::One(9));
    }

    #[test]
    fn call_times_are_read_in_their_usual_spellings() {
        let at = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap().and_hms_opt(8, 15, 0).unwrap();
        for t in ["2026-11-02 08:15", "2026/11/2 8:15:00", "2026年11月2日 08:15", "2026.11.02 08:15"] {
            assert_eq!(call_time(t), Some(at), "{t}");
        }
        assert_eq!(call_time("2026-11-02"), NaiveDate::from_ymd_opt(2026, 11, 2).unwrap().and_hms_opt(0, 0, 0));
        assert_eq!(call_time("昨天"), None);
    }

    proptest! {
        /// An address that holds an estate's name always finds it (alone or among equals), whatever surrounds it.
        #[test]
        fn a_named_estate_is_always_among_the_found(before in "[县镇路号楼栋单元0-9]{0,8}", after in "[县镇路号楼栋单元0-9]{0,8}", k in 0usize..4) {
            let p = places();
            let address = format!("{before}{}{after}", p[k].name);
            match match_address(&p, &address) {
                AddressMatch::One(id) => prop_assert_eq!(id, p[k].id),
                AddressMatch::Several(ids) => prop_assert!(ids.contains(&p[k].id)),
                AddressMatch::None => prop_assert!(false, "{address} found nothing"),
            }
        }
    }
}
