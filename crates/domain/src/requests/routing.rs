//! Who handles a request (issue 16, part 3): the kind of unit a category goes to by default, where
//! a request falls back when the place has no such unit, and the level a late request is escalated
//! to and supervised from (挂牌督办).

use crate::regions::{Level, RegionCode};
use serde::{Deserialize, Serialize};

/// The kinds of unit a request can be routed to. Offices (community, street, housing bureau) are
/// the region's own desks; the others are organisations registered with their staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// The estate's property company (物业).
    Property,
    /// The contractor of the estate's current project (施工单位).
    Contractor,
    /// The community committee (社区居委会).
    Community,
    /// The street office (街道办).
    Street,
    /// The county's housing bureau (住建局).
    Bureau,
    Water,
    Power,
    Gas,
    Telecom,
}

impl UnitKind {
    /// Every kind.
    pub const ALL: [UnitKind; 9] = [
        UnitKind::Property,
        UnitKind::Contractor,
        UnitKind::Community,
        UnitKind::Street,
        UnitKind::Bureau,
        UnitKind::Water,
        UnitKind::Power,
        UnitKind::Gas,
        UnitKind::Telecom,
    ];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Property => "property",
            UnitKind::Contractor => "contractor",
            UnitKind::Community => "community",
            UnitKind::Street => "street",
            UnitKind::Bureau => "bureau",
            UnitKind::Water => "water",
            UnitKind::Power => "power",
            UnitKind::Gas => "gas",
            UnitKind::Telecom => "telecom",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<UnitKind> {
        UnitKind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }

    /// The level of a region office of this kind; `None` for organisations.
    pub fn office_level(self) -> Option<Level> {
        match self {
            UnitKind::Community => Some(Level::Community),
            UnitKind::Street => Some(Level::Street),
            UnitKind::Bureau => Some(Level::County),
            _ => None,
        }
    }
}

/// The kind of unit a request of this category goes to first.
pub fn default_unit(category: &str) -> UnitKind {
    match category {
        "repair.water" => UnitKind::Water,
        "repair.power" => UnitKind::Power,
        "repair.gas" | "safety.gas_smell" => UnitKind::Gas,
        "repair.lift" | "repair.roof_leak" | "repair.drainage" => UnitKind::Property,
        "environment.sanitation" | "environment.greening" => UnitKind::Property,
        "safety.fire_passage" | "safety.ebike_indoor" => UnitKind::Property,
        "renovation.disturbance" | "renovation.quality" | "renovation.progress" => UnitKind::Contractor,
        "renovation.scheme" => UnitKind::Bureau,
        // Complaints about the property company go to the community that oversees it; noise,
        // disputes, suggestions and questions are met where residents are.
        _ => UnitKind::Community,
    }
}

/// The region office of `kind` over an estate of community `community`, or `None` for an
/// organisation or a community code that does not reach that level.
pub fn office_region(kind: UnitKind, community: &RegionCode) -> Option<RegionCode> {
    let level = kind.office_level()?;
    if community.level() < level {
        return None;
    }
    let digits = &community.as_str()[..level.prefix_len()];
    RegionCode::parse(&format!("{digits:0<12}")).ok()
}

/// The region a late request is escalated to and supervised from: the office above the one that
/// has it (an organisation's requests go to the county's housing bureau, a county's to the city);
/// `None` at the top.
pub fn escalation_region(handling: &RegionCode, kind: UnitKind) -> Option<RegionCode> {
    if kind.office_level().is_none() {
        if let Some(bureau) = office_region(UnitKind::Bureau, handling) {
            return Some(bureau);
        }
    }
    match handling.level() {
        Level::Country => None,
        Level::Province => Some(RegionCode::country()),
        _ => handling.ancestors().pop(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::categories;

    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn every_leaf_has_a_unit_and_the_dangers_go_to_the_gas_company() {
        for l in categories::leaves() {
            assert!(UnitKind::ALL.contains(&default_unit(l.code)));
        }
        assert_eq!(default_unit("safety.gas_smell"), UnitKind::Gas);
        assert_eq!(default_unit("renovation.quality"), UnitKind::Contractor);
        assert_eq!(default_unit("property"), UnitKind::Community);
        for k in UnitKind::ALL {
            assert_eq!(UnitKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn offices_sit_over_the_estate_and_escalation_goes_one_up() {
        let community = rc("350521100001");
        assert_eq!(office_region(UnitKind::Street, &community), Some(rc("350521100000")));
        assert_eq!(office_region(UnitKind::Bureau, &community), Some(rc("350521000000")));
        assert_eq!(office_region(UnitKind::Water, &community), None);
        assert_eq!(escalation_region(&community, UnitKind::Community), Some(rc("350521100000")));
        assert_eq!(escalation_region(&rc("350521100000"), UnitKind::Street), Some(rc("350521000000")));
        assert_eq!(escalation_region(&rc("350521000000"), UnitKind::Bureau), Some(rc("350500000000")));
        assert_eq!(
            escalation_region(&rc("350521000000"), UnitKind::Water),
            Some(rc("350521000000")),
            "a utility's late requests go to the bureau"
        );
        assert_eq!(escalation_region(&rc("350000000000"), UnitKind::Bureau), Some(RegionCode::country()));
        assert_eq!(escalation_region(&RegionCode::country(), UnitKind::Bureau), None);
    }
}
