//! Smart alarms (issue 17, 勉县): the kinds of device an estate has, what their readings and
//! events mean (rules with thresholds held for a while, camera events, silence), and an alarm's
//! life: active → acknowledged → cleared → closed, one open alarm per device and type, repeats
//! counted on it.

pub mod camera;
pub mod escalation;
pub mod ingest;
pub mod rules;
pub mod telemetry;

use crate::reason;
use crate::reasons::Reason;
use serde::{Deserialize, Serialize};

/// The kinds of device in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Combustible gas detector (% LEL).
    GasDetector,
    SmokeDetector,
    /// Water immersion or level (a flooded basement, a pump room).
    WaterSensor,
    /// Door and access control.
    DoorAccess,
    /// E-bike charging point (current, temperature).
    EbikeCharger,
    /// Lift monitor (trapped passengers, faults).
    LiftMonitor,
    /// A camera with AI events (smoke and fire, intrusion, illegal parking, guard off post).
    Camera,
}

impl DeviceKind {
    /// Every kind.
    pub const ALL: [DeviceKind; 7] = [
        DeviceKind::GasDetector,
        DeviceKind::SmokeDetector,
        DeviceKind::WaterSensor,
        DeviceKind::DoorAccess,
        DeviceKind::EbikeCharger,
        DeviceKind::LiftMonitor,
        DeviceKind::Camera,
    ];

    /// The code used in storage, the API and the xlsx import.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::GasDetector => "gas_detector",
            DeviceKind::SmokeDetector => "smoke_detector",
            DeviceKind::WaterSensor => "water_sensor",
            DeviceKind::DoorAccess => "door_access",
            DeviceKind::EbikeCharger => "ebike_charger",
            DeviceKind::LiftMonitor => "lift_monitor",
            DeviceKind::Camera => "camera",
        }
    }

    /// The Chinese name, as the import's column and the desk say it.
    pub fn zh(self) -> &'static str {
        match self {
            DeviceKind::GasDetector => "可燃气体探测器",
            DeviceKind::SmokeDetector => "烟感",
            DeviceKind::WaterSensor => "水浸水位",
            DeviceKind::DoorAccess => "门禁",
            DeviceKind::EbikeCharger => "电动车充电桩",
            DeviceKind::LiftMonitor => "电梯监测",
            DeviceKind::Camera => "AI摄像机",
        }
    }

    /// Parses the code or the Chinese name.
    pub fn parse(s: &str) -> Option<DeviceKind> {
        let s = s.trim();
        DeviceKind::ALL.into_iter().find(|k| k.as_str() == s || k.zh() == s)
    }
}

/// How serious an alarm is, least first (so that `max` is the worst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Minor,
    Major,
    Critical,
}

impl Severity {
    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }

    /// The Chinese name, as a text message says it.
    pub fn zh(self) -> &'static str {
        match self {
            Severity::Warning => "提示",
            Severity::Minor => "一般",
            Severity::Major => "重要",
            Severity::Critical => "紧急",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Warning, Severity::Minor, Severity::Major, Severity::Critical].into_iter().find(|x| x.as_str() == s.trim())
    }

    /// The severity of a stored rank (`severity as i64`).
    pub fn from_rank(rank: i64) -> Option<Severity> {
        [Severity::Warning, Severity::Minor, Severity::Major, Severity::Critical].into_iter().find(|x| *x as i64 == rank)
    }
}

/// The Chinese name of an alarm type, as a text message says it (the code itself when unknown).
pub fn alarm_type_zh(code: &str) -> &str {
    match code {
        "gas_leak" => "燃气泄漏",
        "smoke" => "烟雾",
        "fire" => "烟火",
        "flood" => "水浸",
        "charger_overheat" => "充电桩过热",
        "charger_fault" => "充电桩故障",
        "forced_open" => "门被强行打开",
        "held_open" => "门长时间未关",
        "lift_trapped" => "电梯困人",
        "lift_fault" => "电梯故障",
        "intrusion" => "区域入侵",
        "illegal_parking" => "违规停车",
        "guard_off_post" => "值守人员离岗",
        "tamper" => "设备被拆动",
        "offline" => "设备离线",
        other => other,
    }
}

/// Where an alarm stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    /// Raised, nobody has taken it on yet.
    Active,
    /// Someone responsible said they are on it.
    Acknowledged,
    /// The condition is over: by the rule (the reading fell back) or by hand with a note.
    Cleared,
    /// Done with: cleared and closed by someone, with a photo where there is one.
    Closed,
}

impl AlarmState {
    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Active => "active",
            AlarmState::Acknowledged => "acknowledged",
            AlarmState::Cleared => "cleared",
            AlarmState::Closed => "closed",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<AlarmState> {
        [AlarmState::Active, AlarmState::Acknowledged, AlarmState::Cleared, AlarmState::Closed].into_iter().find(|x| x.as_str() == s.trim())
    }

    /// Open: a repeat of the same device and type is counted on it instead of raising another.
    pub fn is_open(self) -> bool {
        matches!(self, AlarmState::Active | AlarmState::Acknowledged)
    }
}

/// What people and rules do to an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmStep {
    Acknowledge,
    /// The rule saw the condition end.
    ClearByRule,
    /// Someone cleared it by hand (with a note).
    ClearByHand,
    Close,
}

/// Why a step is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AlarmRefusal {
    #[error("the alarm is already acknowledged")]
    AlreadyAcknowledged,
    #[error("the alarm is over: it is cleared or closed")]
    NotOpen,
    #[error("an alarm is closed once it is cleared")]
    NotCleared,
    #[error("the alarm is already closed")]
    AlreadyClosed,
}

impl AlarmRefusal {
    /// The reason, with its stable code.
    pub fn reason(self) -> Reason {
        match self {
            AlarmRefusal::AlreadyAcknowledged => reason!("alarms.already_acknowledged"),
            AlarmRefusal::NotOpen => reason!("alarms.not_open"),
            AlarmRefusal::NotCleared => reason!("alarms.not_cleared"),
            AlarmRefusal::AlreadyClosed => reason!("alarms.already_closed"),
        }
    }
}

/// The state after a step, or why the step is refused. Clearing an acknowledged or an active
/// alarm is allowed (the rule does not wait for people); closing needs it cleared first.
pub fn step(from: AlarmState, s: AlarmStep) -> Result<AlarmState, AlarmRefusal> {
    use AlarmState::*;
    match (from, s) {
        (Active, AlarmStep::Acknowledge) => Ok(Acknowledged),
        (Acknowledged, AlarmStep::Acknowledge) => Err(AlarmRefusal::AlreadyAcknowledged),
        (Active | Acknowledged, AlarmStep::ClearByRule | AlarmStep::ClearByHand) => Ok(Cleared),
        (Cleared, AlarmStep::Close) => Ok(Closed),
        (Active | Acknowledged, AlarmStep::Close) => Err(AlarmRefusal::NotCleared),
        (Closed, _) => Err(AlarmRefusal::AlreadyClosed),
        (Cleared, _) => Err(AlarmRefusal::NotOpen),
    }
}

/// The worst severity of the open alarms given, for an estate's or a region's roll-up (none when
/// nothing is open).
pub fn worst<'a>(open: impl IntoIterator<Item = &'a (AlarmState, Severity)>) -> Option<Severity> {
    open.into_iter().filter(|(s, _)| s.is_open()).map(|(_, sev)| *sev).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_lifecycle_in_order() {
        let acked = step(AlarmState::Active, AlarmStep::Acknowledge).unwrap();
        assert_eq!(acked, AlarmState::Acknowledged);
        assert_eq!(step(acked, AlarmStep::Acknowledge), Err(AlarmRefusal::AlreadyAcknowledged));
        assert_eq!(step(acked, AlarmStep::Close), Err(AlarmRefusal::NotCleared));
        let cleared = step(acked, AlarmStep::ClearByHand).unwrap();
        assert_eq!(step(cleared, AlarmStep::ClearByRule), Err(AlarmRefusal::NotOpen));
        assert_eq!(step(cleared, AlarmStep::Close), Ok(AlarmState::Closed));
        assert_eq!(step(AlarmState::Active, AlarmStep::ClearByRule), Ok(AlarmState::Cleared), "the rule does not wait");
        assert_eq!(step(AlarmState::Closed, AlarmStep::Acknowledge), Err(AlarmRefusal::AlreadyClosed));
    }

    #[test]
    fn kinds_parse_by_code_and_chinese_name() {
        for k in DeviceKind::ALL {
            assert_eq!(DeviceKind::parse(k.as_str()), Some(k));
            assert_eq!(DeviceKind::parse(k.zh()), Some(k));
        }
        assert_eq!(DeviceKind::parse("toaster"), None);
    }

    #[test]
    fn the_worst_open_alarm_rolls_up() {
        let alarms =
            [(AlarmState::Active, Severity::Major), (AlarmState::Cleared, Severity::Critical), (AlarmState::Acknowledged, Severity::Minor)];
        assert_eq!(worst(&alarms), Some(Severity::Major), "a cleared alarm no longer counts");
        assert_eq!(worst(&[]), None);
    }

    proptest! {
        /// Whatever steps are tried, a closed alarm was cleared first, and nothing leaves Closed.
        #[test]
        fn closed_only_after_cleared(steps in proptest::collection::vec(0usize..4, 0..20)) {
            let all = [AlarmStep::Acknowledge, AlarmStep::ClearByRule, AlarmStep::ClearByHand, AlarmStep::Close];
            let mut state = AlarmState::Active;
            let mut was_cleared = false;
            for i in steps {
                if let Ok(next) = step(state, all[i]) {
                    prop_assert!(state != AlarmState::Closed);
                    if next == AlarmState::Closed {
                        prop_assert!(was_cleared);
                    }
                    was_cleared |= next == AlarmState::Cleared;
                    state = next;
                }
            }
        }
    }
}
