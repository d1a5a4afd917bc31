//! Escalation and notification (issue 17 §4, docs/alarms.md): every second each server looks for
//! active alarms with a step of their chain due, claims it (one server wins), and tells the tier's
//! people by text message, the configured `alarm_webhook` and the live feed of the desks. Every
//! notification is logged with its time and outcome; steps people take on alarms go to the feed too.

use crate::auth::CurrentUser;
use crate::AppState;
use huanxin_domain::access::Scope;
use huanxin_domain::alarms::escalation::{self as rules, Tier};
use huanxin_domain::alarms::{alarm_type_zh, Severity};
use huanxin_store::alarms::escalation::{Escalating, NewNotification};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// What the live feed says: an alarm raised or escalated, or a step someone took.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FeedEvent {
    /// `raised`, `escalated`, `acknowledged`, `cleared` or `closed`.
    pub kind: String,
    pub alarm_id: i64,
    pub estate_id: i64,
    pub estate_name: String,
    pub community_code: String,
    pub alarm_type: String,
    pub severity: String,
    /// The tier told (raised and escalated).
    pub tier: Option<String>,
    pub at: String,
}

/// The live feed: every server's own (each server's worker tells its own desks; the step that
/// claims a notification is taken by one server, so a desk on another hears of it by its board's
/// refresh). Listeners are counted: a few per person and some hundreds in all, so that open
/// streams cannot use up the server.
#[derive(Clone)]
pub struct Feed {
    tx: broadcast::Sender<FeedEvent>,
    listening: Arc<Mutex<HashMap<i64, usize>>>,
}

/// Most open feeds of one person (a few desks and a phone).
pub const FEEDS_PER_USER: usize = 10;
/// Most open feeds on one server.
pub const FEEDS_IN_ALL: usize = 500;

impl Default for Feed {
    fn default() -> Self {
        Feed { tx: broadcast::channel(1024).0, listening: Arc::default() }
    }
}

/// A place among the feed's listeners, given back when the stream ends.
pub struct Seat {
    user_id: i64,
    listening: Arc<Mutex<HashMap<i64, usize>>>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut l = self.listening.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = l.get_mut(&self.user_id) {
            *n -= 1;
            if *n == 0 {
                l.remove(&self.user_id);
            }
        }
    }
}

impl Feed {
    /// How many feeds are open on this server.
    pub fn open_feeds(&self) -> usize {
        self.listening.lock().unwrap_or_else(|p| p.into_inner()).values().sum()
    }

    /// Tells whoever listens (nobody listening is fine).
    pub fn send(&self, e: FeedEvent) {
        let _ = self.tx.send(e);
    }

    /// A new listener for `user_id`, or none when they or the server have as many as allowed.
    pub fn subscribe(&self, user_id: i64) -> Option<(broadcast::Receiver<FeedEvent>, Seat)> {
        let mut l = self.listening.lock().unwrap_or_else(|p| p.into_inner());
        let all: usize = l.values().sum();
        let mine = l.entry(user_id).or_insert(0);
        if *mine >= FEEDS_PER_USER || all >= FEEDS_IN_ALL {
            return None;
        }
        *mine += 1;
        Some((self.tx.subscribe(), Seat { user_id, listening: self.listening.clone() }))
    }
}

/// Who may hear of an estate's alarms on the feed: the user's region, or their estates.
pub struct Listener {
    scope: Scope,
    estates: HashSet<i64>,
}

impl Listener {
    /// The listener for a signed-in user.
    pub async fn of(st: &AppState, cu: &CurrentUser) -> Result<Listener, crate::error::ApiError> {
        let estates = match cu.scope {
            Scope::Attached { user_id } => st.db.attached_estate_ids(user_id).await?.into_iter().collect(),
            Scope::Region(_) => HashSet::new(),
        };
        Ok(Listener { scope: cu.scope.clone(), estates })
    }

    /// True when the event is of an estate the user may see.
    pub fn hears(&self, e: &FeedEvent) -> bool {
        match self.scope {
            Scope::Region(_) => self.scope.covers_code(&e.community_code),
            Scope::Attached { .. } => self.estates.contains(&e.estate_id),
        }
    }
}

/// Starts the worker: a look every second.
pub fn spawn(st: &AppState) {
    let st = st.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = escalate(&st).await {
                tracing::warn!(error = %e, "alarm escalation failed; tried again in a second");
            }
        }
    });
}

/// One look: claims and sends every step due.
pub async fn escalate(st: &AppState) -> Result<usize, huanxin_store::StoreError> {
    let now = huanxin_store::clock::utc_now().timestamp_millis();
    let mut sent = 0;
    for a in st.db.escalating_alarms(&rfc3339(now)).await? {
        let Some(raised) = chrono::DateTime::parse_from_rfc3339(&a.first_at).ok().map(|t| t.timestamp_millis()) else { continue };
        let chain = st.db.chain_for(a.estate_id, &a.alarm_type).await?;
        let done = usize::try_from(a.escalated_step).ok();
        let steps = rules::steps_to_send(&chain, now - raised, done, true);
        // The next step's time, or none at the chain's end (an alarm not yet due is put back).
        let next_at = chain.get(steps.end).map(|s| rfc3339(raised + s.after_minutes * 60_000));
        let last = steps.end as i64 - 1;
        if !st.db.claim_escalation(a.id, a.escalated_step, last, next_at.as_deref()).await? || steps.is_empty() {
            continue;
        }
        sent += steps.len();
        // Each alarm's messages go out by themselves: a slow SMS relay or webhook for one alarm
        // holds up no other.
        let st = st.clone();
        tokio::spawn(async move {
            for i in steps {
                if let Err(e) = notify(&st, &a, i, chain[i].tier).await {
                    tracing::warn!(alarm = a.id, step = i, error = %e, "alarm notification not logged");
                }
            }
        });
    }
    Ok(sent)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The client for the alarm webhook (5 s to answer).
fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default())
}

/// Tells a tier about an alarm: a text to each of its people with a phone, the webhook, the feed;
/// all logged (a tier with nobody on the estate is logged as such, so the gap shows).
async fn notify(st: &AppState, a: &Escalating, step: usize, tier: Tier) -> Result<(), huanxin_store::StoreError> {
    let (unit, people) = st.db.tier_recipients(a.estate_id, &a.community_code, tier).await?;
    let severity = Severity::parse(&a.severity).map_or(a.severity.as_str(), |s| s.zh());
    let text = rules::message_text(&a.estate_name, &a.place, alarm_type_zh(&a.alarm_type), severity, tier, step);
    let log = |channel: &'static str, recipient: String, user_id: Option<i64>, status: &'static str, detail: String| NewNotification {
        alarm_id: a.id,
        step: step as i64,
        tier,
        channel,
        recipient,
        user_id,
        status,
        detail,
    };
    let mut logged = Vec::new();
    let unit_shown = if unit.is_empty() { tier.zh().to_string() } else { format!("{}（{unit}）", tier.zh()) };
    if people.is_empty() {
        logged.push(log("sms", unit_shown.clone(), None, "nobody", "no_account".into()));
    }
    for p in &people {
        let shown = format!("{} {}", p.display_name, huanxin_domain::estates::mask_phone(&p.phone));
        if p.phone.trim().is_empty() {
            logged.push(log("sms", p.display_name.clone(), Some(p.user_id), "nobody", "no_phone".into()));
            continue;
        }
        match st.sms.send(&p.phone, &text).await {
            Ok(()) => logged.push(log("sms", shown, Some(p.user_id), "sent", String::new())),
            Err(e) => logged.push(log("sms", shown, Some(p.user_id), "failed", e.to_string())),
        }
    }
    let hook = st.config.alarm_webhook.trim();
    if !hook.is_empty() {
        let body = serde_json::json!({
            "alarm_id": a.id, "estate_id": a.estate_id, "estate": a.estate_name, "place": a.place, "alarm_type": a.alarm_type,
            "severity": a.severity, "step": step, "tier": tier.as_str(), "unit": unit, "text": text,
        });
        let host = reqwest::Url::parse(hook).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
        let outcome = http().post(hook).json(&body).send().await;
        let (status, detail) = match outcome {
            Ok(r) if r.status().is_success() => ("sent", String::new()),
            Ok(r) => ("failed", format!("HTTP {}", r.status())),
            Err(e) => ("failed", e.without_url().to_string()),
        };
        logged.push(log("webhook", host, None, status, detail));
    }
    // Logged before the feed tells the desks, so that what they open shows it.
    logged.push(log("feed", unit_shown, None, "sent", String::new()));
    st.db.log_notifications(&logged).await?;
    crate::cluster::announce(
        st,
        crate::cluster::Change::Alarm(FeedEvent {
            kind: if step == 0 { "raised" } else { "escalated" }.into(),
            alarm_id: a.id,
            estate_id: a.estate_id,
            estate_name: a.estate_name.clone(),
            community_code: a.community_code.clone(),
            alarm_type: a.alarm_type.clone(),
            severity: a.severity.clone(),
            tier: Some(tier.as_str().into()),
            at: huanxin_store::now(),
        }),
    );
    Ok(())
}
