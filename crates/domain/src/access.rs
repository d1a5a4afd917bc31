//! Who may do what, and where: roles, permissions and scopes (region subtree or attachments).

use crate::regions::{Level, RegionCode};
use serde::{Deserialize, Serialize};

/// A user's role. Government roles act on a region subtree; companies and residents on what
/// they are attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    MinistryAdmin,
    MinistryStaff,
    ProvinceAdmin,
    ProvinceStaff,
    CityAdmin,
    CityStaff,
    CountyAdmin,
    CountyStaff,
    StreetStaff,
    CommunityStaff,
    Designer,
    Contractor,
    Supervisor,
    PropertyCompany,
    /// Staff of a utility (water, power, gas, telecom) handling the requests routed to it.
    Utility,
    GridWorker,
    Resident,
}

/// Something a route may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See estates, buildings, dwellings and the map.
    ReadRegistry,
    /// Create, change and import estates, buildings and dwellings.
    WriteRegistry,
    /// Create users and reset their passwords.
    ManageUsers,
    /// Browse the audit log.
    ReadAudit,
    /// See phone numbers unmasked (each read is audited).
    ReadPersonalData,
    /// Record an estate's assessment (体检).
    Assess,
    /// Move an estate to its next stage.
    AdvanceStage,
    /// Work on the draft of an estate's scheme.
    DraftScheme,
    /// Set a region's menu (prices, units, payers, its own items) and its assessment checklist.
    ManageMenu,
    /// Sign an estate's acceptance for one's own party.
    SignAcceptance,
    /// File documents and photos in an estate's archive.
    FileDocuments,
    /// Work on construction: schedule and progress, inspections, design changes (each by its party;
    /// `construction::may_*` say which).
    RecordConstruction,
    /// Consult residents: post notices and answer objections, set up owners' decisions, enter paper
    /// ballots and print invitation codes.
    ConsultResidents,
    /// Allocate funds, set contract sums, ask for and approve disbursements, correct the ledger.
    ManageFunds,
    /// Read what residents said one by one: ballots per dwelling, named survey answers and free
    /// text unmasked. Privacy is this permission wherever the data appears (lists, exports, the
    /// archive zip), not a check in one handler.
    ReadResidentsAnswers,
    /// Read residents' service requests (who asked, from which dwelling, what): the desks that
    /// consult residents and grid workers in their region; organisations (property company,
    /// contractor, utility) only the requests routed to their unit; residents their own.
    ReadRequests,
    /// Take on, answer or give back a service request routed to one's unit or office.
    HandleRequests,
    /// Route requests: transfer them to another unit, merge duplicates, confirm their category,
    /// make the callback visit: the desks that consult residents.
    DispatchRequests,
    /// Fill, submit and review statistical reports: the bureaus from the county up.
    ReportStatistics,
    /// Acknowledge, clear and close the alarms of the estates in one's scope: the property company,
    /// grid workers and the desks from the county down.
    RespondAlarms,
}

impl Permission {
    /// The permission's code as the API and the reasons name it (`write_registry`).
    pub fn as_code(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }

    /// Every permission, in the order the API lists them.
    pub const ALL: [Permission; 20] = [
        Permission::ReadRegistry,
        Permission::WriteRegistry,
        Permission::ManageUsers,
        Permission::ReadAudit,
        Permission::ReadPersonalData,
        Permission::Assess,
        Permission::AdvanceStage,
        Permission::DraftScheme,
        Permission::ManageMenu,
        Permission::SignAcceptance,
        Permission::FileDocuments,
        Permission::RecordConstruction,
        Permission::ConsultResidents,
        Permission::ManageFunds,
        Permission::ReadResidentsAnswers,
        Permission::ReadRequests,
        Permission::HandleRequests,
        Permission::DispatchRequests,
        Permission::ReportStatistics,
        Permission::RespondAlarms,
    ];
}

impl Role {
    /// Every role, in the order the UI lists them.
    pub const ALL: [Role; 17] = [
        Role::MinistryAdmin,
        Role::MinistryStaff,
        Role::ProvinceAdmin,
        Role::ProvinceStaff,
        Role::CityAdmin,
        Role::CityStaff,
        Role::CountyAdmin,
        Role::CountyStaff,
        Role::StreetStaff,
        Role::CommunityStaff,
        Role::Designer,
        Role::Contractor,
        Role::Supervisor,
        Role::PropertyCompany,
        Role::Utility,
        Role::GridWorker,
        Role::Resident,
    ];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::MinistryAdmin => "ministry_admin",
            Role::MinistryStaff => "ministry_staff",
            Role::ProvinceAdmin => "province_admin",
            Role::ProvinceStaff => "province_staff",
            Role::CityAdmin => "city_admin",
            Role::CityStaff => "city_staff",
            Role::CountyAdmin => "county_admin",
            Role::CountyStaff => "county_staff",
            Role::StreetStaff => "street_staff",
            Role::CommunityStaff => "community_staff",
            Role::Designer => "designer",
            Role::Contractor => "contractor",
            Role::Supervisor => "supervisor",
            Role::PropertyCompany => "property_company",
            Role::Utility => "utility",
            Role::GridWorker => "grid_worker",
            Role::Resident => "resident",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == s.trim())
    }

    /// The region level a government role works at; `None` for attachment-scoped roles.
    pub fn level(self) -> Option<Level> {
        use Role::*;
        Some(match self {
            MinistryAdmin | MinistryStaff => Level::Country,
            ProvinceAdmin | ProvinceStaff => Level::Province,
            CityAdmin | CityStaff => Level::City,
            CountyAdmin | CountyStaff => Level::County,
            StreetStaff => Level::Street,
            CommunityStaff | GridWorker => Level::Community,
            Designer | Contractor | Supervisor | PropertyCompany | Utility | Resident => return None,
        })
    }

    /// True for roles that see only the estates they are attached to.
    pub fn is_attachment_scoped(self) -> bool {
        self.level().is_none()
    }

    fn is_admin(self) -> bool {
        matches!(self, Role::MinistryAdmin | Role::ProvinceAdmin | Role::CityAdmin | Role::CountyAdmin)
    }

    /// True for the organisations requests are routed to, who see only their unit's.
    pub fn is_request_unit(self) -> bool {
        matches!(self, Role::PropertyCompany | Role::Contractor | Role::Utility)
    }

    fn is_government_desk(self) -> bool {
        self.level().is_some() && self != Role::GridWorker
    }

    /// The permission table: one place that says what each role may do.
    pub fn allows(self, p: Permission) -> bool {
        match p {
            Permission::ReadRegistry => true,
            Permission::WriteRegistry => self.is_government_desk(),
            Permission::ManageUsers => self.is_admin(),
            Permission::ReadAudit => self.is_government_desk() && !matches!(self, Role::CommunityStaff),
            Permission::ReadPersonalData => self.is_government_desk() || matches!(self, Role::GridWorker | Role::PropertyCompany),
            Permission::Assess => self.is_government_desk(),
            Permission::AdvanceStage => self.is_government_desk() && self != Role::CommunityStaff,
            // Designers draw the schemes (一区一策); the bureau's desks revise them.
            Permission::DraftScheme => (self.is_government_desk() && self != Role::CommunityStaff) || self == Role::Designer,
            // Prices are set where budgets are: county and above.
            Permission::ManageMenu => {
                self.is_government_desk() && !matches!(self, Role::StreetStaff | Role::CommunityStaff | Role::MinistryStaff)
            }
            // Which party each role signs for is `acceptance::Signatory::may_be_signed_by`.
            Permission::SignAcceptance => crate::acceptance::Signatory::ALL.iter().any(|s| s.may_be_signed_by(self)),
            // The desks and the three parties of a project file its papers and site photos.
            Permission::FileDocuments => self.is_government_desk() || matches!(self, Role::Designer | Role::Contractor | Role::Supervisor),
            Permission::RecordConstruction => {
                (self.is_government_desk() && self != Role::CommunityStaff)
                    || matches!(self, Role::Designer | Role::Contractor | Role::Supervisor)
            }
            // Notices and votes are run where residents are met: the community and street up to the county.
            Permission::ConsultResidents => {
                matches!(self, Role::CommunityStaff | Role::StreetStaff | Role::CountyStaff | Role::CountyAdmin)
            }
            // Those who consult residents read what each said; nobody else does.
            Permission::ReadResidentsAnswers => self.allows(Permission::ConsultResidents),
            Permission::HandleRequests => self.allows(Permission::ConsultResidents) || self.is_request_unit(),
            Permission::ReadRequests => {
                self.allows(Permission::ConsultResidents) || self.is_request_unit() || matches!(self, Role::GridWorker | Role::Resident)
            }
            Permission::DispatchRequests => self.allows(Permission::ConsultResidents),
            // Budgets are held from the county up.
            Permission::ManageFunds => self.is_government_desk() && !matches!(self, Role::StreetStaff | Role::CommunityStaff),
            // Reports are filed by counties and reviewed by the cities, provinces and the ministry.
            Permission::ReportStatistics => self.is_government_desk() && !matches!(self, Role::StreetStaff | Role::CommunityStaff),
            // Those on the spot and the desks that dispatch them; the levels above watch.
            Permission::RespondAlarms => matches!(
                self,
                Role::PropertyCompany | Role::GridWorker | Role::CommunityStaff | Role::StreetStaff | Role::CountyStaff | Role::CountyAdmin
            ),
        }
    }
}

/// What a signed-in user can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything in the subtree of this region.
    Region(RegionCode),
    /// Only the estates this user is attached to.
    Attached { user_id: i64 },
}

/// The one place where "is this region the user's?" is decided; the store's SQL condition
/// (`subtree_range`) is the same rule, checked against this one by a property test.
impl Scope {
    /// True when the region lies in the user's region (attached users own no region).
    pub fn covers(&self, region: &RegionCode) -> bool {
        match self {
            Scope::Region(mine) => mine.contains(region),
            Scope::Attached { .. } => false,
        }
    }

    /// [`Scope::covers`] for a stored code (a region or a community committee); a code that does
    /// not parse is nobody's.
    pub fn covers_code(&self, code: &str) -> bool {
        RegionCode::parse(code).is_ok_and(|rc| self.covers(&rc))
    }

    /// True when a region may be shown to the user as a place: within their region or above it
    /// (breadcrumbs, the rules it inherits). Attached users see places by their estates.
    pub fn sees(&self, region: &RegionCode) -> bool {
        match self {
            Scope::Region(mine) => mine.contains(region) || region.contains(mine),
            Scope::Attached { .. } => true,
        }
    }
}

/// The scope of a user from their role, region and id; a government role needs a region at its level.
pub fn scope_for(role: Role, region: &RegionCode, user_id: i64) -> Result<Scope, crate::Reason> {
    match role.level() {
        None => Ok(Scope::Attached { user_id }),
        Some(level) if region.level() == level => Ok(Scope::Region(region.clone())),
        Some(level) => Err(crate::reason!(
            "accounts.role_needs_level",
            role = role.as_str(),
            level = format!("{level:?}").to_lowercase(),
            region = region
        )),
    }
}

/// May an administrator create or change an account with this role and region?
/// Only inside their own subtree, and never a role above their own level.
pub fn can_manage_user(actor: Role, actor_region: &RegionCode, target: Role, target_region: &RegionCode) -> bool {
    if !actor.allows(Permission::ManageUsers) || !actor_region.contains(target_region) {
        return false;
    }
    let (Some(actor_level), target_level) = (actor.level(), target.level()) else {
        return false;
    };
    match target_level {
        Some(l) => l >= actor_level,
        None => true,
    }
}

/// The first wait after the free tries, and the longest, in seconds.
pub const BACKOFF_BASE_SECS: u64 = 30;
pub const BACKOFF_CAP_SECS: u64 = 900;

/// How long to wait after `failures` failed tries of which `free` cost nothing: then 30 s, doubling
/// with each further failure up to 15 minutes. A back-off, never a lock that a stranger can hold.
pub fn backoff_seconds(failures: u32, free: u32) -> u64 {
    if failures < free {
        0
    } else {
        (BACKOFF_BASE_SECS << (failures - free).min(10)).min(BACKOFF_CAP_SECS)
    }
}

/// May an administrator reset this account's password? Only for an account strictly below their
/// own level (a county admin resets a street's or a company's account, never another county
/// admin's or a county clerk's: that is the city's, or the operator's with the CLI), and never a
/// resident's: a password set by staff would let them cast that owner's ballot, so residents
/// re-bind by invitation code or text message instead.
pub fn can_reset_password(actor: Role, actor_region: &RegionCode, target: Role, target_region: &RegionCode) -> Result<(), crate::Reason> {
    if !actor.allows(Permission::ManageUsers) || !actor_region.contains(target_region) {
        return Err(crate::reason!("accounts.outside_administration"));
    }
    if target == Role::Resident {
        return Err(crate::reason!("accounts.resident_password_not_reset"));
    }
    let Some(actor_level) = actor.level() else {
        return Err(crate::reason!("accounts.outside_administration"));
    };
    match target.level() {
        Some(l) if l <= actor_level => Err(crate::reason!("accounts.reset_needs_higher_level")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A region code at any level from a few digits, so that random pairs often nest.
    fn region_code() -> impl Strategy<Value = RegionCode> {
        (prop::sample::select(vec![0usize, 2, 4, 6, 9, 12]), prop::collection::vec(prop::sample::select(vec!['0', '1', '3']), 12))
            .prop_filter_map("a valid code", |(len, digits)| {
                let head: String = digits.iter().take(len).collect();
                RegionCode::parse(&format!("{head:0<12}")).ok()
            })
    }

    proptest! {
        /// The SQL condition (a range on the code) and the one rule in `Scope::covers` agree.
        #[test]
        fn the_sql_range_and_the_rule_agree(mine in region_code(), other in region_code()) {
            let (lo, hi) = mine.subtree_range();
            let in_range = other.as_str() >= lo.as_str() && other.as_str() < hi.as_str();
            prop_assert_eq!(Scope::Region(mine.clone()).covers(&other), in_range);
            prop_assert_eq!(Scope::Region(mine.clone()).covers_code(other.as_str()), in_range);
            let attached = Scope::Attached { user_id: 1 };
            prop_assert!(!attached.covers(&other));
            // What a user covers they may also see; seeing reaches up to the breadcrumbs too.
            if Scope::Region(mine.clone()).covers(&other) {
                prop_assert!(Scope::Region(mine.clone()).sees(&other));
            }
            prop_assert!(Scope::Region(other.clone()).sees(&mine) == Scope::Region(mine.clone()).sees(&other));
        }
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        assert_eq!(backoff_seconds(2, 3), 0);
        assert_eq!(backoff_seconds(3, 3), 30);
        assert_eq!(backoff_seconds(4, 3), 60);
        assert_eq!(backoff_seconds(8, 3), 900);
        assert_eq!(backoff_seconds(u32::MAX, 3), 900);
    }

    #[test]
    fn resets_only_strictly_below_and_never_residents() {
        let county = rc("350521");
        let street = rc("350521100");
        assert!(can_reset_password(Role::CountyAdmin, &county, Role::CountyAdmin, &county).is_err());
        assert!(can_reset_password(Role::CountyAdmin, &county, Role::CountyStaff, &county).is_err());
        assert!(can_reset_password(Role::CountyAdmin, &county, Role::StreetStaff, &street).is_ok());
        assert!(can_reset_password(Role::CountyAdmin, &county, Role::Contractor, &county).is_ok());
        assert!(can_reset_password(Role::CountyAdmin, &county, Role::Resident, &street).is_err());
        assert!(can_reset_password(Role::CityAdmin, &rc("350500"), Role::CountyAdmin, &county).is_ok());
        assert!(can_reset_password(Role::CountyStaff, &county, Role::StreetStaff, &street).is_err());
        assert!(can_reset_password(Role::CountyAdmin, &county, Role::StreetStaff, &rc("350502100")).is_err());
    }

    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn permission_table() {
        assert!(Role::CountyAdmin.allows(Permission::ManageUsers));
        assert!(!Role::CountyStaff.allows(Permission::ManageUsers));
        assert!(Role::CommunityStaff.allows(Permission::WriteRegistry));
        assert!(!Role::Contractor.allows(Permission::WriteRegistry));
        assert!(!Role::Resident.allows(Permission::ReadAudit));
        assert!(!Role::Resident.allows(Permission::ReadPersonalData));
        assert!(Role::Resident.allows(Permission::ReadRegistry));
        for r in
            [Role::Contractor, Role::Designer, Role::Supervisor, Role::PropertyCompany, Role::GridWorker, Role::CityStaff, Role::Resident]
        {
            assert!(!r.allows(Permission::ReadResidentsAnswers), "{r:?}");
        }
        assert!(Role::CommunityStaff.allows(Permission::ReadResidentsAnswers));
    }

    #[test]
    fn scopes_follow_levels() {
        assert_eq!(scope_for(Role::CountyAdmin, &rc("350521"), 1), Ok(Scope::Region(rc("350521"))));
        assert!(scope_for(Role::CountyAdmin, &rc("35"), 1).is_err());
        assert_eq!(scope_for(Role::Contractor, &rc("350521"), 7), Ok(Scope::Attached { user_id: 7 }));
        assert_eq!(scope_for(Role::MinistryAdmin, &RegionCode::country(), 1), Ok(Scope::Region(RegionCode::country())));
    }

    #[test]
    fn admins_manage_only_below_and_inside() {
        let county = rc("350521");
        assert!(can_manage_user(Role::CountyAdmin, &county, Role::CountyStaff, &county));
        assert!(can_manage_user(Role::CountyAdmin, &county, Role::StreetStaff, &rc("350521100")));
        assert!(can_manage_user(Role::CountyAdmin, &county, Role::Contractor, &county));
        assert!(!can_manage_user(Role::CountyAdmin, &county, Role::CityAdmin, &rc("3505")));
        assert!(!can_manage_user(Role::CountyAdmin, &county, Role::StreetStaff, &rc("350502001")));
        assert!(!can_manage_user(Role::CountyStaff, &county, Role::StreetStaff, &rc("350521100")));
    }
}
