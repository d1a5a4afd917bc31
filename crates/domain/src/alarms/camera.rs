//! Cameras pushing their AI events over HTTP: Hikvision's ISAPI `EventNotificationAlert` (XML,
//! alone or as the first part of a multipart form with the snapshot) and Dahua's event JSON
//! (`Code`, `Action`, `Index`, `Data`), read into one shape. Fixtures follow the vendors'
//! documented shapes (docs/alarms.md).

use quick_xml::events::Event as Xml;
use quick_xml::Reader;

/// A camera event, whoever made the camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraEvent {
    /// The vendor's event type as sent (`fielddetection`, `SmokeDetection`…).
    pub event: String,
    /// The event starts (true) or stops.
    pub active: bool,
    /// The camera's channel (a recorder has several).
    pub channel: i64,
    /// The camera's own time as sent (ISO 8601 with its offset), if any.
    pub at: Option<String>,
    /// The camera's MAC address or serial, when it sends one: which device it is.
    pub device: Option<String>,
}

/// Largest event body read (the XML or JSON part; the snapshot is read apart).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Why a camera's message is not read (for the dead letters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    #[error("the body is larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    #[error("the XML does not parse: {0}")]
    Xml(String),
    #[error("the JSON does not parse: {0}")]
    Json(String),
    #[error("no {0} in the message")]
    Missing(&'static str),
}

/// Reads a Hikvision `EventNotificationAlert`.
pub fn hikvision(xml: &[u8]) -> Result<CameraEvent, CameraError> {
    if xml.len() > MAX_EVENT_BYTES {
        return Err(CameraError::TooLarge);
    }
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let (mut event, mut state, mut channel, mut at, mut mac, mut root) = (None, None, None, None, None, false);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Xml::Start(e)) => {
                let name: String = e.local_name().as_ref().to_string();
                if path.is_empty() {
                    root = name == "EventNotificationAlert";
                }
                path.push(name);
                // Deeply nested is not an event notification: stop before the stack grows.
                if path.len() > 32 {
                    return Err(CameraError::Xml("nested too deep".into()));
                }
            }
            Ok(Xml::End(_)) => {
                path.pop();
            }
            Ok(Xml::Text(t)) if path.len() == 2 && root => {
                let text = t.xml10_content().trim().to_string();
                match path[1].as_str() {
                    "eventType" => event = Some(text),
                    "eventState" => state = Some(text),
                    "channelID" | "dynChannelID" => channel = text.parse::<i64>().ok(),
                    "dateTime" => at = Some(text),
                    "macAddress" => mac = Some(text),
                    _ => {}
                }
            }
            Ok(Xml::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(CameraError::Xml(e.to_string())),
        }
        buf.clear();
    }
    if !root {
        return Err(CameraError::Missing("EventNotificationAlert"));
    }
    let event = event.filter(|e| !e.is_empty() && e.len() <= 64).ok_or(CameraError::Missing("eventType"))?;
    Ok(CameraEvent {
        event,
        active: state.as_deref() != Some("inactive"),
        channel: channel.unwrap_or(1),
        at,
        device: mac.filter(|m| !m.is_empty() && m.len() <= 64),
    })
}

/// Reads a Dahua event: `{"Code": "CrossRegionDetection", "Action": "Start", "Index": 0, "Data": {…}}`.
/// Dahua counts channels from 0; ours start at 1.
pub fn dahua(json: &[u8]) -> Result<CameraEvent, CameraError> {
    if json.len() > MAX_EVENT_BYTES {
        return Err(CameraError::TooLarge);
    }
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| CameraError::Json(e.to_string()))?;
    let code = v.get("Code").and_then(|c| c.as_str()).filter(|c| !c.is_empty() && c.len() <= 64).ok_or(CameraError::Missing("Code"))?;
    let action = v.get("Action").and_then(|a| a.as_str()).unwrap_or("Start");
    let index = v.get("Index").and_then(serde_json::Value::as_i64).unwrap_or(0);
    let data = v.get("Data");
    let text = |k: &str| data.and_then(|d| d.get(k)).and_then(|x| x.as_str()).map(str::to_string);
    Ok(CameraEvent {
        event: code.to_string(),
        active: !action.eq_ignore_ascii_case("stop"),
        channel: index.saturating_add(1),
        at: text("LocaleTime").or_else(|| text("UTC")),
        device: text("SerialNo").or_else(|| text("MAC")).filter(|s| s.len() <= 64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIELD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<ipAddress>192.168.1.64</ipAddress>
<portNo>80</portNo>
<protocol>HTTP</protocol>
<macAddress>44:47:cc:11:22:33</macAddress>
<channelID>2</channelID>
<dateTime>2026-12-06T20:15:02+08:00</dateTime>
<activePostCount>1</activePostCount>
<eventType>fielddetection</eventType>
<eventState>active</eventState>
<eventDescription>fielddetection alarm</eventDescription>
<DetectionRegionList><DetectionRegion><regionID>1</regionID><eventType>nested</eventType></DetectionRegion></DetectionRegionList>
</EventNotificationAlert>"#;

    #[test]
    fn a_hikvision_alert_is_read() {
        let e = hikvision(FIELD.as_bytes()).unwrap();
        assert_eq!(e.event, "fielddetection", "the top-level type, not a nested one");
        assert_eq!((e.active, e.channel, e.device.as_deref()), (true, 2, Some("44:47:cc:11:22:33")));
        assert_eq!(e.at.as_deref(), Some("2026-12-06T20:15:02+08:00"));
        let inactive = FIELD.replace("<eventState>active", "<eventState>inactive");
        assert!(!hikvision(inactive.as_bytes()).unwrap().active);
        assert_eq!(hikvision(b"<Other><eventType>x</eventType></Other>"), Err(CameraError::Missing("EventNotificationAlert")));
        assert_eq!(hikvision(b"<EventNotificationAlert></EventNotificationAlert>"), Err(CameraError::Missing("eventType")));
        assert!(matches!(hikvision(b"<EventNotificationAlert><eventType>x</channelID>"), Err(CameraError::Xml(_))));
        let deep = "<a>".repeat(40);
        assert!(matches!(hikvision(format!("<EventNotificationAlert>{deep}").as_bytes()), Err(CameraError::Xml(_))));
    }

    #[test]
    fn a_dahua_event_is_read() {
        let body =
            br#"{"Code":"SmokeDetection","Action":"Start","Index":0,"Data":{"LocaleTime":"2026-12-06 20:15:02","SerialNo":"7K0A1B2PAZ"}}"#;
        let e = dahua(body).unwrap();
        assert_eq!((e.event.as_str(), e.active, e.channel, e.device.as_deref()), ("SmokeDetection", true, 1, Some("7K0A1B2PAZ")));
        assert!(!dahua(br#"{"Code":"SmokeDetection","Action":"Stop"}"#).unwrap().active);
        assert_eq!(dahua(br#"{"Action":"Start"}"#), Err(CameraError::Missing("Code")));
        assert!(matches!(dahua(b"nope"), Err(CameraError::Json(_))));
    }

    proptest! {
        /// Any bytes are read or refused, never a panic.
        #[test]
        fn any_body_is_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = hikvision(&bytes);
            let _ = dahua(&bytes);
        }
    }
}
