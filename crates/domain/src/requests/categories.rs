//! The national default tree of request categories (issue 16): eight groups and their kinds, each
//! with its names and the working days it is due in; these are the codes the classifier is
//! trained on. A region changes the tree for itself and the regions below it ([`Tree::with_settings`]):
//! other names, other working days or another unit, kinds of its own, kinds it no longer uses.

use crate::reason;
use crate::requests::routing::{self, UnitKind};
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};

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

/// Most working days a region may give a category.
pub const MAX_WORKING_DAYS: u32 = 60;

/// Most kinds of their own the regions of one tree may add between them (the tree is read on
/// every filing: it stays small).
pub const MAX_OWN_KINDS: usize = 50;

/// Characters that show nothing or turn text around (zero-width, bidirectional controls): refused
/// in names, where they would make two names look alike or one read backwards.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A region's change to one category: set on a national category or on a kind of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CategorySetting {
    /// The category's code; a kind of the region's own is `group.name`, e.g. `repair.heating`.
    pub code: String,
    /// Another Chinese name (a kind of its own must have one).
    pub zh: Option<String>,
    pub en: Option<String>,
    /// Working days to answer (leaves only).
    pub working_days: Option<u32>,
    /// The kind of unit it goes to first (leaves only).
    pub unit_kind: Option<UnitKind>,
    /// No longer offered to file under; requests filed before keep it (kinds only).
    pub retired: bool,
}

/// One category as a region uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Category {
    pub code: String,
    /// The group's code, or `None` for a group.
    pub parent: Option<String>,
    pub zh: String,
    pub en: String,
    pub working_days: u32,
    /// The kind of unit a request of it goes to first.
    pub unit_kind: UnitKind,
    /// Requests are filed under it: a kind, or a group without kinds.
    pub leaf: bool,
    /// No longer offered to file under.
    pub retired: bool,
    /// In the national tree; else a region's own kind.
    pub national: bool,
    /// The region whose setting it follows (the nearest that changed it), if any.
    pub set_in: Option<String>,
}

/// The tree of categories as one region uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    categories: Vec<Category>,
}

impl Tree {
    /// The national tree, as no region changed it.
    pub fn national() -> Tree {
        let categories = TREE
            .iter()
            .map(|c| Category {
                code: c.code.into(),
                parent: c.parent.map(str::to_string),
                zh: c.zh.into(),
                en: c.en.into(),
                working_days: c.working_days,
                unit_kind: routing::default_unit(c.code),
                leaf: !TREE.iter().any(|k| k.parent == Some(c.code)),
                retired: false,
                national: true,
                set_in: None,
            })
            .collect();
        Tree { categories }
    }

    /// The national tree with regions' settings laid on it, the farthest region first and the
    /// nearest last, so that the nearest wins field by field. A setting that no longer fits (its
    /// group gone, its code a group's) is passed over rather than breaking the tree.
    pub fn with_settings<'a>(settings: impl IntoIterator<Item = (&'a str, &'a CategorySetting)>) -> Tree {
        let mut tree = Tree::national();
        for (region, s) in settings {
            tree.apply(region, s);
        }
        tree
    }

    fn apply(&mut self, region: &str, s: &CategorySetting) -> bool {
        if self.category(&s.code).is_none() {
            let Some(group) = own_kind_group(&s.code).filter(|g| self.has_kinds(g)) else {
                return false;
            };
            let at = self.categories.iter().rposition(|c| c.parent.as_deref() == Some(group)).map_or(self.categories.len(), |i| i + 1);
            let zh = s.zh.clone().unwrap_or_else(|| s.code.clone());
            self.categories.insert(
                at,
                Category {
                    code: s.code.clone(),
                    parent: Some(group.to_string()),
                    en: s.en.clone().unwrap_or_else(|| zh.clone()),
                    zh,
                    working_days: 5,
                    unit_kind: routing::default_unit(group),
                    leaf: true,
                    retired: false,
                    national: false,
                    set_in: None,
                },
            );
        }
        let Some(c) = self.categories.iter_mut().find(|c| c.code == s.code) else {
            return false;
        };
        if let Some(zh) = &s.zh {
            c.zh.clone_from(zh);
        }
        if let Some(en) = &s.en {
            c.en.clone_from(en);
        }
        if c.leaf {
            c.working_days = s.working_days.unwrap_or(c.working_days);
            c.unit_kind = s.unit_kind.unwrap_or(c.unit_kind);
        }
        c.retired = s.retired && c.parent.is_some();
        c.set_in = Some(region.to_string());
        // A group keeps a kind in use whatever the regions above and below retired between them.
        if let Some(group) = c.parent.clone().filter(|_| s.retired) {
            if !self.categories.iter().any(|k| k.parent.as_deref() == Some(group.as_str()) && !k.retired) {
                if let Some(c) = self.categories.iter_mut().find(|c| c.code == s.code) {
                    c.retired = false;
                }
            }
        }
        true
    }

    fn has_kinds(&self, group: &str) -> bool {
        self.categories.iter().any(|c| c.parent.as_deref() == Some(group))
    }

    /// Every category, each group followed by its kinds (retired ones too).
    pub fn all(&self) -> &[Category] {
        &self.categories
    }

    /// The category with this code, retired or not: for lists and names.
    pub fn category(&self, code: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.code == code.trim())
    }

    /// The leaf with this code still in use: what a new request is filed under.
    pub fn leaf(&self, code: &str) -> Option<&Category> {
        self.category(code).filter(|c| c.leaf && !c.retired)
    }

    /// The leaves in use.
    pub fn leaves(&self) -> impl Iterator<Item = &Category> {
        self.categories.iter().filter(|c| c.leaf && !c.retired)
    }

    /// The Chinese name of a code, or the code itself when the tree has no such category.
    pub fn zh<'a>(&'a self, code: &'a str) -> &'a str {
        self.category(code).map_or(code, |c| c.zh.as_str())
    }

    /// Checks a region's setting against its tree as it stands (with the region's own settings)
    /// and returns it tidied: names trimmed, a kind of its own named, a group left with one kind
    /// in use at least.
    pub fn check(&self, input: &CategorySetting) -> Result<CategorySetting, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let code = input.code.trim().to_string();
        let name = |e: &mut ValidationErrors, field: &str, v: &Option<String>, max: usize| {
            let v = v.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
            if v.chars().count() > max || v.chars().any(|c| c.is_control() || invisible(c)) {
                e.push(field, v.chars().take(40).collect::<String>(), reason!("field.length", max = max));
                return None;
            }
            Some(v.to_string())
        };
        let zh = name(&mut e, "zh", &input.zh, 20);
        let en = name(&mut e, "en", &input.en, 60);
        let existing = self.category(&code);
        match existing {
            None => match own_kind_group(&code) {
                Some(group) if self.has_kinds(group) => {
                    if zh.is_none() && input.zh.as_deref().is_none_or(|z| z.trim().is_empty()) {
                        e.push("zh", "", reason!("field.required"));
                    }
                    if self.categories.iter().filter(|c| !c.national).count() >= MAX_OWN_KINDS {
                        e.push("code", &code, reason!("requests.category_too_many", max = MAX_OWN_KINDS));
                    }
                }
                Some(_) => e.push("code", &code, reason!("requests.category_own_group")),
                None => e.push("code", &code, reason!("requests.category_code_form")),
            },
            Some(c) => {
                if input.retired && c.parent.is_none() {
                    e.push("retired", true, reason!("requests.category_retire_kinds_only"));
                }
                if !c.leaf && (input.working_days.is_some() || input.unit_kind.is_some()) {
                    let field = if input.working_days.is_some() { "working_days" } else { "unit_kind" };
                    e.push(field, &code, reason!("requests.category_leaf_setting"));
                }
            }
        }
        if let Some(d) = input.working_days.filter(|d| *d > MAX_WORKING_DAYS) {
            e.push("working_days", d, reason!("field.between", min = 0, max = MAX_WORKING_DAYS));
        }
        let out = CategorySetting { code, zh, en, working_days: input.working_days, unit_kind: input.unit_kind, retired: input.retired };
        if e.is_empty() && out.retired {
            let group =
                existing.and_then(|c| c.parent.clone()).or_else(|| own_kind_group(&out.code).map(str::to_string)).unwrap_or_default();
            let mut others = self.categories.iter().filter(|c| c.code != out.code && c.parent.as_deref() == Some(group.as_str()));
            if !others.any(|c| !c.retired) {
                e.push("retired", true, reason!("requests.category_group_keeps_one", group = self.zh(&group)));
            }
        }
        e.into_result(out)
    }
}

/// The group a region's own kind's code names (`repair.heating` → `repair`), when the code has
/// that form: a group's code, a dot, then 2 to 30 lower-case letters, digits or `_`.
fn own_kind_group(code: &str) -> Option<&str> {
    let (group, name) = code.split_once('.')?;
    let fine = (2..=30).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    (fine && TREE.iter().any(|c| c.code == group && c.parent.is_none())).then_some(group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn own(code: &str, zh: &str) -> CategorySetting {
        CategorySetting { code: code.into(), zh: Some(zh.into()), ..Default::default() }
    }

    #[test]
    fn the_national_tree_unchanged_has_the_twenty_leaves() {
        let t = Tree::national();
        assert_eq!(t.leaves().count(), 20);
        assert_eq!(t.leaf("repair.lift").map(|c| c.working_days), Some(2));
        assert_eq!(t.leaf("repair").map(|c| c.code.as_str()), None, "a group with kinds is not filed under");
        assert_eq!(t.leaf("dispute").map(|c| c.unit_kind), Some(UnitKind::Community));
    }

    #[test]
    fn the_nearest_region_wins_field_by_field() {
        let province =
            CategorySetting { code: "repair.lift".into(), working_days: Some(1), zh: Some("电梯故障".into()), ..Default::default() };
        let county = CategorySetting { code: "repair.lift".into(), working_days: Some(3), ..Default::default() };
        let t = Tree::with_settings([("350000000000", &province), ("350521000000", &county)]);
        let lift = t.leaf("repair.lift").expect("lift");
        assert_eq!((lift.working_days, lift.zh.as_str(), lift.set_in.as_deref()), (3, "电梯故障", Some("350521000000")));
    }

    #[test]
    fn a_kind_of_its_own_sits_after_its_group_s_kinds_and_is_filed_under() {
        let heating = CategorySetting { working_days: Some(1), unit_kind: Some(UnitKind::Bureau), ..own("repair.heating", "供暖") };
        let t = Tree::with_settings([("350521000000", &heating)]);
        let codes: Vec<&str> = t.all().iter().map(|c| c.code.as_str()).collect();
        let at = codes.iter().position(|c| *c == "repair.heating").expect("added");
        assert_eq!(codes[at - 1], "repair.drainage");
        let c = t.leaf("repair.heating").expect("leaf");
        assert_eq!((c.working_days, c.unit_kind, c.national, c.parent.as_deref()), (1, UnitKind::Bureau, false, Some("repair")));
        assert_eq!(t.leaves().count(), 21);
    }

    #[test]
    fn a_retired_kind_keeps_its_name_but_is_not_filed_under() {
        let retire = CategorySetting { code: "environment.noise".into(), retired: true, ..Default::default() };
        let t = Tree::with_settings([("350521000000", &retire)]);
        assert!(t.leaf("environment.noise").is_none());
        assert_eq!(t.zh("environment.noise"), "噪声");
        assert_eq!(t.leaves().count(), 19);
    }

    #[test]
    fn checks_name_the_field() {
        let t = Tree::national();
        let fields =
            |s: CategorySetting| t.check(&s).err().map(|e| e.0.into_iter().map(|f| f.field).collect::<Vec<_>>()).unwrap_or_default();
        assert_eq!(fields(own("Repair.Heat", "供暖")), ["code"]);
        assert_eq!(fields(own("property.fee", "物业费")), ["code"], "a group without kinds takes none");
        assert_eq!(fields(CategorySetting { code: "repair.heating".into(), ..Default::default() }), ["zh"]);
        assert_eq!(fields(CategorySetting { code: "repair".into(), working_days: Some(2), ..Default::default() }), ["working_days"]);
        assert_eq!(fields(CategorySetting { code: "dispute".into(), retired: true, ..Default::default() }), ["retired"]);
        assert_eq!(fields(CategorySetting { code: "repair.lift".into(), working_days: Some(61), ..Default::default() }), ["working_days"]);
        assert_eq!(fields(own("repair.lift", "电\u{0}梯")), ["zh"]);
        assert_eq!(fields(own("repair.lift", "电\u{202E}梯")), ["zh"], "no text turned around");
        assert_eq!(fields(own("repair.lift", "电\u{200B}梯")), ["zh"], "no invisible characters");
        let many: Vec<CategorySetting> = (0..MAX_OWN_KINDS).map(|i| own(&format!("repair.k{i}"), "自设")).collect();
        let full = Tree::with_settings(many.iter().map(|s| ("350521000000", s)));
        assert_eq!(
            full.check(&own("repair.one_more", "再设")).map_err(|e| e.0[0].code.clone()),
            Err("requests.category_too_many".to_string())
        );
        assert!(t.check(&own("repair.heating", " 供暖 ")).is_ok_and(|s| s.zh.as_deref() == Some("供暖")));
    }

    #[test]
    fn a_group_keeps_one_kind_in_use() {
        let retire = |code: &str| CategorySetting { code: code.into(), retired: true, ..Default::default() };
        let (a, b) = (retire("safety.fire_passage"), retire("safety.ebike_indoor"));
        let t = Tree::with_settings([("350521000000", &a), ("350521000000", &b)]);
        let e = t.check(&retire("safety.gas_smell")).expect_err("last kind");
        assert_eq!(e.0[0].field, "retired");
        assert!(t.check(&retire("repair.lift")).is_ok());
    }

    proptest! {
        /// Whatever settings a region makes that pass the check, every group with kinds keeps one
        /// in use, every leaf's days stay in range and the national leaves keep their codes.
        #[test]
        fn checked_settings_keep_the_tree_whole(ops in proptest::collection::vec((0usize..24, any::<bool>(), 0u32..80, 0usize..3), 0..30)) {
            let codes: Vec<String> = TREE.iter().map(|c| c.code.to_string()).chain(["repair.heating".into(), "safety.lpg".into(), "environment.pets".into()]).collect();
            let mut settings: Vec<CategorySetting> = Vec::new();
            for (i, retired, days, name) in ops {
                let code = codes[i % codes.len()].clone();
                let s = CategorySetting { code, retired, working_days: Some(days), zh: (name > 0).then(|| "自设".to_string()), ..Default::default() };
                let tree = Tree::with_settings(settings.iter().map(|s| ("350521000000", s)));
                if let Ok(ok) = tree.check(&s) {
                    settings.retain(|x| x.code != ok.code);
                    settings.push(ok);
                }
            }
            let t = Tree::with_settings(settings.iter().map(|s| ("350521000000", s)));
            for g in t.all().iter().filter(|c| c.parent.is_none() && !c.leaf) {
                prop_assert!(t.all().iter().any(|k| k.parent.as_deref() == Some(g.code.as_str()) && !k.retired), "{} has none", g.code);
            }
            prop_assert!(t.leaves().all(|l| l.working_days <= MAX_WORKING_DAYS));
            for c in TREE {
                prop_assert!(t.category(c.code).is_some());
            }
        }
    }

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
