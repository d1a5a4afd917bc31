//! The national default tree of request categories (issue 16): eight groups and their kinds, each
//! with its names and the working days it is due in. A region may change its own later; these
//! are the codes the classifier is trained on.

/// One category of the tree: a group (no parent) or a kind within a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RequestCategory {
    pub code: &'static str,
    /// The group's code, or `None` for a group.
    pub parent: Option<&'static str>,
    pub zh: &'static str,
    pub en: &'static str,
    /// Working days to resolve a request of this kind.
    pub working_days: u32,
}

const fn group(code: &'static str, zh: &'static str, en: &'static str, working_days: u32) -> RequestCategory {
    RequestCategory { code, parent: None, zh, en, working_days }
}

const fn kind(parent: &'static str, code: &'static str, zh: &'static str, en: &'static str, working_days: u32) -> RequestCategory {
    RequestCategory { code, parent: Some(parent), zh, en, working_days }
}

/// The tree, each group followed by its kinds. A danger (a smell of gas) is due at once: day 0.
pub const TREE: &[RequestCategory] = &[
    group("repair", "维修", "Repairs", 5),
    kind("repair", "repair.water", "供水", "Water supply", 3),
    kind("repair", "repair.power", "供电", "Power", 3),
    kind("repair", "repair.gas", "燃气设施", "Gas installations", 3),
    kind("repair", "repair.lift", "电梯", "Lifts", 2),
    kind("repair", "repair.roof_leak", "屋面外墙渗漏", "Roof and wall leaks", 5),
    kind("repair", "repair.drainage", "排水", "Drainage", 3),
    group("environment", "环境", "Environment", 5),
    kind("environment", "environment.sanitation", "环境卫生", "Sanitation", 3),
    kind("environment", "environment.greening", "绿化", "Greening", 10),
    kind("environment", "environment.noise", "噪声", "Noise", 5),
    group("safety", "安全隐患", "Safety hazards", 1),
    kind("safety", "safety.fire_passage", "消防通道堵塞", "Blocked fire passage", 1),
    kind("safety", "safety.ebike_indoor", "电动车入户充电", "E-bikes charged indoors", 1),
    kind("safety", "safety.gas_smell", "燃气异味", "Smell of gas", 0),
    group("renovation", "改造工程", "Renovation works", 5),
    kind("renovation", "renovation.disturbance", "施工扰民", "Disturbance by the works", 2),
    kind("renovation", "renovation.quality", "工程质量", "Quality of the works", 5),
    kind("renovation", "renovation.progress", "工程进度", "Progress of the works", 5),
    kind("renovation", "renovation.scheme", "方案异议", "Disagreement with the scheme", 10),
    group("property", "物业服务", "Property service", 5),
    group("dispute", "邻里纠纷", "Neighbour disputes", 10),
    group("suggestion", "意见建议", "Suggestions", 10),
    group("question", "政策咨询", "Questions", 5),
];

/// The category with this code.
pub fn category(code: &str) -> Option<&'static RequestCategory> {
    TREE.iter().find(|c| c.code == code.trim())
}

/// The leaves of the tree: the kinds, and the groups that have none. Requests are filed under these.
pub fn leaves() -> impl Iterator<Item = &'static RequestCategory> {
    TREE.iter().filter(|c| !TREE.iter().any(|k| k.parent == Some(c.code)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_sits_under_a_group_and_codes_are_unique() {
        for c in TREE {
            if let Some(p) = c.parent {
                assert!(category(p).is_some_and(|g| g.parent.is_none()), "{} under {p}", c.code);
                assert!(c.code.starts_with(&format!("{p}.")), "{}", c.code);
            }
            assert_eq!(TREE.iter().filter(|k| k.code == c.code).count(), 1, "{}", c.code);
        }
        assert_eq!(leaves().count(), 20);
        assert!(leaves().all(|l| l.code != "repair"), "a group with kinds is not a leaf");
    }
}
