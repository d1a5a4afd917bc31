//! Our MQTT messages (docs/alarms.md): topics `huanxin/v1/{serial}/telemetry|event|heartbeat`,
//! JSON payloads, each signed by its device with HMAC-SHA256 over the topic and the payload
//! (an MQTT 5 user property `sig`), so that a device's key never crosses the broker.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Largest payload read; bigger ones go to the dead letters unread.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
/// Most values in one telemetry message.
pub const MAX_VALUES: usize = 32;
/// How far a device's clock may be ahead of ours.
pub const MAX_AHEAD_MS: i64 = 5 * 60_000;
/// How old a message may be (a device that kept readings while the network was down).
pub const MAX_BEHIND_MS: i64 = 24 * 3_600_000;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Telemetry,
    Event,
    Heartbeat,
}

/// The topics' first level unless configured otherwise (`huanxin/v1/{serial}/…`).
pub const DEFAULT_ROOT: &str = "huanxin";

/// A message's topic under `root` read: the device's serial and what it sends.
pub fn parse_topic<'a>(root: &str, topic: &'a str) -> Option<(&'a str, Channel)> {
    let rest = topic.strip_prefix(root)?.strip_prefix("/v1/")?;
    let mut parts = rest.split('/');
    let (Some(serial), Some(channel), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let channel = match channel {
        "telemetry" => Channel::Telemetry,
        "event" => Channel::Event,
        "heartbeat" => Channel::Heartbeat,
        _ => return None,
    };
    valid_serial(serial).then_some((serial, channel))
}

/// A serial as the registry keeps it: 1 to 64 letters, digits, `-`, `_` or `.`.
pub fn valid_serial(serial: &str) -> bool {
    (1..=64).contains(&serial.len()) && serial.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// The signature a device with `key` puts on a message (lower-case hex).
pub fn signature(key: &[u8], topic: &str, payload: &[u8]) -> String {
    // A key of any length is accepted by HMAC; the error branch cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return String::new() };
    mac.update(topic.as_bytes());
    mac.update(b"\n");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// True when `sig` is the device's signature of the message (compared in constant time).
pub fn verify(key: &[u8], topic: &str, payload: &[u8], sig: &str) -> bool {
    let Ok(given) = hex::decode(sig.trim()) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return false };
    mac.update(topic.as_bytes());
    mac.update(b"\n");
    mac.update(payload);
    mac.verify_slice(&given).is_ok()
}

/// A message read: when (ms since the epoch), the readings, or the event's type and whether it
/// starts or stops.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Telemetry { at: i64, values: Vec<(String, f64)> },
    Event { at: i64, event: String, active: bool },
    Heartbeat { at: i64 },
}

/// Why a message goes to the dead letters (the code names it there).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadLetter {
    #[error("the topic is not huanxin/v1/{{serial}}/telemetry|event|heartbeat")]
    Topic,
    #[error("the payload is larger than {MAX_PAYLOAD_BYTES} bytes")]
    TooLarge,
    #[error("the payload is not JSON: {0}")]
    NotJson(String),
    #[error("field {0} is missing or of the wrong type")]
    Field(&'static str),
    #[error("the time is {0} ms off the server's clock")]
    Time(i64),
    #[error("more than {MAX_VALUES} values")]
    TooManyValues,
    #[error("no such device")]
    UnknownDevice,
    #[error("the signature does not match the device's key")]
    Signature,
    #[error("the device sends faster than it may")]
    RateLimited,
}

impl DeadLetter {
    /// A short stable code for the dead-letter list.
    pub fn code(&self) -> &'static str {
        match self {
            DeadLetter::Topic => "topic",
            DeadLetter::TooLarge => "too_large",
            DeadLetter::NotJson(_) => "not_json",
            DeadLetter::Field(_) => "field",
            DeadLetter::Time(_) => "time",
            DeadLetter::TooManyValues => "too_many_values",
            DeadLetter::UnknownDevice => "unknown_device",
            DeadLetter::Signature => "signature",
            DeadLetter::RateLimited => "rate_limited",
        }
    }
}

/// A metric's or an event's name: 1 to `max` ASCII letters, digits, `_`, `-` or `.` (stored as
/// text on both engines, shown on the board).
pub fn plain_name(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// A topic or serial as a dead letter keeps it: at most `max` characters, control characters
/// (NUL among them, which PostgreSQL refuses in text) shown as `?`.
pub fn shown_topic(topic: &str, max: usize) -> String {
    topic.chars().take(max).map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// Reads a payload of `channel` received at `now` (ms): `{"ts": ms, "values": {"lel": 12.5}}`,
/// `{"ts": ms, "event": "smoke", "active": true}` or `{"ts": ms}`. `ts` is required: a message
/// without a time could be sent again by anyone who saw it, for ever.
pub fn parse(channel: Channel, payload: &[u8], now: i64) -> Result<Message, DeadLetter> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(DeadLetter::TooLarge);
    }
    let v: Value = serde_json::from_slice(payload).map_err(|e| DeadLetter::NotJson(e.to_string()))?;
    let obj = v.as_object().ok_or(DeadLetter::Field("payload"))?;
    let at = obj.get("ts").and_then(Value::as_i64).ok_or(DeadLetter::Field("ts"))?;
    let off = at.saturating_sub(now);
    if !(-MAX_BEHIND_MS..=MAX_AHEAD_MS).contains(&off) {
        return Err(DeadLetter::Time(off));
    }
    match channel {
        Channel::Heartbeat => Ok(Message::Heartbeat { at }),
        Channel::Telemetry => {
            let values = obj.get("values").and_then(Value::as_object).ok_or(DeadLetter::Field("values"))?;
            if values.len() > MAX_VALUES {
                return Err(DeadLetter::TooManyValues);
            }
            let mut out = Vec::with_capacity(values.len());
            for (k, v) in values {
                let n = v.as_f64().filter(|n| n.is_finite()).ok_or(DeadLetter::Field("values"))?;
                if !plain_name(k, 40) {
                    return Err(DeadLetter::Field("values"));
                }
                out.push((k.clone(), n));
            }
            Ok(Message::Telemetry { at, values: out })
        }
        Channel::Event => {
            let event = obj.get("event").and_then(Value::as_str).filter(|e| plain_name(e, 64)).ok_or(DeadLetter::Field("event"))?;
            let active = match obj.get("active") {
                None => true,
                Some(a) => a.as_bool().ok_or(DeadLetter::Field("active"))?,
            };
            Ok(Message::Event { at, event: event.to_string(), active })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_796_000_000_000;

    #[test]
    fn topics_name_the_device_and_what_it_sends() {
        assert_eq!(parse_topic(DEFAULT_ROOT, "huanxin/v1/GD-0001/telemetry"), Some(("GD-0001", Channel::Telemetry)));
        assert_eq!(parse_topic("t/run-1", "t/run-1/v1/GD-1/heartbeat"), Some(("GD-1", Channel::Heartbeat)));
        assert_eq!(parse_topic(DEFAULT_ROOT, "huanxin/v1/cam.7/event"), Some(("cam.7", Channel::Event)));
        for bad in
            ["huanxin/v1/x", "huanxin/v2/x/telemetry", "huanxin/v1/a b/telemetry", "huanxin/v1/x/telemetry/extra", "huanxin/v1//heartbeat"]
        {
            assert_eq!(parse_topic(DEFAULT_ROOT, bad), None, "{bad}");
        }
    }

    #[test]
    fn dead_letters_show_control_characters_as_question_marks() {
        assert_eq!(shown_topic("huanxin/v1/a\u{0}b\n/event", 200), "huanxin/v1/a?b?/event");
        assert_eq!(shown_topic("楼栋/传感器", 3), "楼栋/");
    }

    #[test]
    fn payloads_are_read_or_refused_by_name() {
        let t = parse(Channel::Telemetry, br#"{"ts": 1796000000000, "values": {"lel": 12.5, "temp_c": 21}}"#, NOW).unwrap();
        assert_eq!(t, Message::Telemetry { at: NOW, values: vec![("lel".into(), 12.5), ("temp_c".into(), 21.0)] });
        assert_eq!(
            parse(Channel::Event, br#"{"ts": 1796000000000, "event": "smoke"}"#, NOW),
            Ok(Message::Event { at: NOW, event: "smoke".into(), active: true })
        );
        assert_eq!(parse(Channel::Event, br#"{"event": "smoke"}"#, NOW), Err(DeadLetter::Field("ts")), "no time: replayable");
        for extreme in [i64::MIN, i64::MAX] {
            let p = format!(r#"{{"ts": {extreme}}}"#);
            assert_eq!(parse(Channel::Heartbeat, p.as_bytes(), NOW).map_err(|e| e.code()), Err("time"));
            assert_eq!(parse(Channel::Heartbeat, p.as_bytes(), -NOW).map_err(|e| e.code()), Err("time"));
        }
        let nul = br#"{"ts": 1796000000000, "values": {"l\u0000el": 1}}"#;
        assert_eq!(parse(Channel::Telemetry, nul, NOW), Err(DeadLetter::Field("values")), "names are plain");
        let nul = br#"{"ts": 1796000000000, "event": "smo\u0000ke"}"#;
        assert_eq!(parse(Channel::Event, nul, NOW), Err(DeadLetter::Field("event")));
        assert_eq!(parse(Channel::Telemetry, b"{", NOW).map_err(|e| e.code()), Err("not_json"));
        assert_eq!(
            parse(Channel::Telemetry, br#"{"ts": 1796000000000, "values": {"lel": "high"}}"#, NOW),
            Err(DeadLetter::Field("values"))
        );
        assert_eq!(parse(Channel::Heartbeat, br#"{"ts": 4000000000000}"#, NOW).map_err(|e| e.code()), Err("time"));
        assert_eq!(parse(Channel::Heartbeat, br#"{"ts": 1}"#, NOW).map_err(|e| e.code()), Err("time"));
        assert_eq!(parse(Channel::Heartbeat, &vec![b' '; MAX_PAYLOAD_BYTES + 1], NOW), Err(DeadLetter::TooLarge));
    }

    #[test]
    fn a_signature_binds_the_topic_and_the_payload_to_the_key() {
        let sig = signature(b"k1", "huanxin/v1/GD-1/telemetry", b"{}");
        assert!(verify(b"k1", "huanxin/v1/GD-1/telemetry", b"{}", &sig));
        assert!(!verify(b"k2", "huanxin/v1/GD-1/telemetry", b"{}", &sig), "another key");
        assert!(!verify(b"k1", "huanxin/v1/GD-2/telemetry", b"{}", &sig), "another device's topic");
        assert!(!verify(b"k1", "huanxin/v1/GD-1/telemetry", b"{ }", &sig), "another payload");
        assert!(!verify(b"k1", "huanxin/v1/GD-1/telemetry", b"{}", "zz"));
    }

    proptest! {
        /// Any bytes at all are read or refused, never a panic.
        #[test]
        fn any_payload_is_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..300), c in 0usize..3) {
            let channel = [Channel::Telemetry, Channel::Event, Channel::Heartbeat][c];
            let _ = parse(channel, &bytes, NOW);
        }

        /// Any time at all, against any clock, is read or refused, never an overflow.
        #[test]
        fn any_time_is_read_or_refused(ts in any::<i64>(), now in any::<i64>()) {
            let p = format!(r#"{{"ts": {ts}}}"#);
            let _ = parse(Channel::Heartbeat, p.as_bytes(), now);
        }
    }
}
