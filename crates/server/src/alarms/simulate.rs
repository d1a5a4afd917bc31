//! Simulated devices (`huanxin simulate-devices`, the demo's `--devices`, the benchmark): signed
//! MQTT messages as real devices send them. Gas detectors read a few % LEL with, every two hours, a
//! leak that climbs past 25 % for a minute; chargers warm up and sometimes overheat; door contacts and
//! cameras send events; a few devices fall silent for a while (offline).

use huanxin_domain::alarms::telemetry::signature;
use huanxin_domain::alarms::DeviceKind;
use rand::Rng;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A device the simulator speaks for.
#[derive(Debug, Clone)]
pub struct SimDevice {
    pub serial: String,
    pub key: String,
    pub kind: DeviceKind,
}

/// One MQTT 5 connection publishing signed messages with QoS 1; `acked` counts the broker's
/// PUBACKs (what the broker has taken on).
#[derive(Clone)]
pub struct Publisher {
    client: AsyncClient,
    root: String,
    pub acked: Arc<AtomicU64>,
}

impl Publisher {
    /// Connects to the broker at `host:port` under the topic root `root`.
    pub fn connect(host: &str, port: u16, id: &str, root: &str) -> Publisher {
        let mut opts = MqttOptions::new(id, host, port);
        opts.set_keep_alive(Duration::from_secs(30)).set_request_channel_capacity(20_000).set_max_packet_size(Some(256 * 1024));
        let (client, mut eventloop) = AsyncClient::new(opts, 20_000);
        let acked = Arc::new(AtomicU64::new(0));
        let counter = acked.clone();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        Publisher { client, root: root.to_string(), acked }
    }

    /// Publishes `payload` on the device's `channel`, signed with its key.
    pub async fn send(&self, device: &SimDevice, channel: &str, payload: String) -> Result<(), String> {
        let topic = format!("{}/v1/{}/{channel}", self.root, device.serial);
        let sig = signature(device.key.as_bytes(), &topic, payload.as_bytes());
        let props = PublishProperties { user_properties: vec![("sig".into(), sig)], ..Default::default() };
        self.client.publish_with_properties(topic, QoS::AtLeastOnce, false, payload, props).await.map_err(|e| e.to_string())
    }
}

/// How often one device has an incident (a leak, an overheating charger, a camera event).
const INCIDENT_EVERY_SECS: u64 = 7200;

/// What a device sends at `t` (seconds into the run), if anything: its channel and payload.
/// `phase` staggers devices so that their leaks and silences do not all come together.
pub fn next_message(device: &SimDevice, t: u64, phase: u64, now_ms: i64, rng: &mut impl Rng) -> Option<(&'static str, String)> {
    // Every device is silent for two of each 120 minutes (phase-shifted): offline alarms.
    let minute = (t / 60 + phase) % 120;
    if phase.is_multiple_of(17) && minute < 2 {
        return None;
    }
    // One leak, overheat or event per device every two hours, lasting a minute, the devices'
    // incidents spread over the two hours (a board with a few alarms at a time, not a flood).
    let cycle = (t + phase * 613) % INCIDENT_EVERY_SECS;
    let incident = cycle < 60;
    // An event is sent once, in the incident's first ten seconds (a device speaks every ten).
    let fresh = cycle < 10;
    let (channel, body) = match device.kind {
        DeviceKind::GasDetector => {
            let lel = if incident { 28.0 + rng.gen_range(0.0..4.0) } else { rng.gen_range(0.0..3.0) };
            ("telemetry", format!(r#"{{"ts":{now_ms},"values":{{"lel":{lel:.1}}}}}"#))
        }
        DeviceKind::WaterSensor => {
            let cm = if incident { 8.0 } else { 0.0 };
            ("telemetry", format!(r#"{{"ts":{now_ms},"values":{{"water_level_cm":{cm:.1}}}}}"#))
        }
        DeviceKind::EbikeCharger => {
            let temp = if incident { 85.0 } else { 25.0 + rng.gen_range(0.0..15.0) };
            ("telemetry", format!(r#"{{"ts":{now_ms},"values":{{"temp_c":{temp:.1}}}}}"#))
        }
        DeviceKind::SmokeDetector => {
            ("telemetry", format!(r#"{{"ts":{now_ms},"values":{{"smoke":{}}}}}"#, u8::from(incident && phase.is_multiple_of(5))))
        }
        DeviceKind::DoorAccess if fresh => ("event", format!(r#"{{"ts":{now_ms},"event":"held_open"}}"#)),
        DeviceKind::LiftMonitor if fresh && phase.is_multiple_of(3) => ("event", format!(r#"{{"ts":{now_ms},"event":"fault"}}"#)),
        DeviceKind::Camera if fresh => {
            let event = ["illegalParking", "fieldDetection", "leavePosition", "smokeDetection"][(phase % 4) as usize];
            ("event", format!(r#"{{"ts":{now_ms},"event":"{event}"}}"#))
        }
        _ => ("heartbeat", format!(r#"{{"ts":{now_ms}}}"#)),
    };
    Some((channel, body))
}

/// Runs the devices until the process stops: each sends one message every `every` (staggered),
/// through `publishers` connections. Returns only on a broker error.
pub async fn run(devices: Vec<SimDevice>, publishers: Vec<Publisher>, every: Duration) -> Result<(), String> {
    if publishers.is_empty() || devices.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let ticks = 10u32;
    let mut tick = tokio::time::interval(every / ticks);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
    let mut n = 0u64;
    loop {
        tick.tick().await;
        let slot = n % u64::from(ticks);
        n += 1;
        let t = started.elapsed().as_secs();
        let now_ms = crate::alarms::ingest::now_ms();
        for (i, d) in devices.iter().enumerate().filter(|(i, _)| (*i as u64) % u64::from(ticks) == slot) {
            if let Some((channel, payload)) = next_message(d, t, i as u64, now_ms, &mut rng) {
                publishers[i % publishers.len()].send(d, channel, payload).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gas_detector_leaks_now_and_then_and_reads_low_otherwise() {
        let d = SimDevice { serial: "GD-1".into(), key: "k".into(), kind: DeviceKind::GasDetector };
        let lel = |t| {
            let (_, p) = next_message(&d, t, 1, 0, &mut rand::thread_rng()).unwrap();
            serde_json::from_str::<serde_json::Value>(&p).unwrap()["values"]["lel"].as_f64().unwrap()
        };
        let readings: Vec<f64> = (0..7200).map(lel).collect();
        assert_eq!(readings.iter().filter(|v| **v >= 25.0).count(), 60, "a minute's leak in two hours");
        assert_eq!(readings.iter().filter(|v| **v <= 3.0).count(), 7140, "low otherwise (to one decimal)");
    }
}
