//! Several servers on one PostgreSQL (issue 18, docs/deploy.md): what one server changes, every
//! other hears at once through PostgreSQL's LISTEN/NOTIFY, so that their caches ("what is late",
//! map points, list totals, signed-in sessions) drop what changed and their desks' live alarm feeds
//! carry alarms raised anywhere. On SQLite there is one server and the change stays local.

use crate::alarms::escalation::FeedEvent;
use crate::AppState;
use huanxin_store::cluster::Heard;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Something changed that other servers keep derived answers of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "what", content = "of", rename_all = "snake_case")]
pub enum Change {
    /// An approval step, schedule node, design change or rectification task ("what is late").
    Late,
    /// An estate's registry (map points, list totals, the dashboards' places).
    Registry,
    /// One session signed out (the hash of its token).
    SessionEnded(String),
    /// An account changed (password, role, disabled): its sessions are read again.
    AccountChanged(i64),
    /// An alarm raised, escalated or handled: the desks' feeds tell it.
    Alarm(FeedEvent),
}

/// A change as sent: which server it came from, so that it does not apply it twice.
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    from: String,
    change: Change,
}

/// This server's name in the cluster: host, process and a random part (a restarted process on the
/// same host is another server). Shown as a job's holder.
pub fn server_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        let host = if host.is_empty() { "server".to_string() } else { host };
        format!("{host}:{}:{}", std::process::id(), &crate::random_key()[..6])
    })
}

/// Applies a change here and tells the other servers (in the background: the request that made
/// it has committed and does not wait).
pub fn announce(st: &AppState, change: Change) {
    apply(st, &change);
    if st.db.engine() != huanxin_store::Engine::Postgres {
        return;
    }
    let db = st.db.clone();
    tokio::spawn(async move {
        let text = match serde_json::to_string(&Notice { from: server_name().to_string(), change }) {
            Ok(t) => t,
            Err(_) => return,
        };
        if let Err(e) = db.notify(&text).await {
            tracing::warn!(error = %e, "change not told to the other servers (their caches catch up within 10 s)");
        }
    });
}

/// What a change does on one server.
fn apply(st: &AppState, change: &Change) {
    match change {
        Change::Late => st.late.changed(),
        Change::Registry => {
            st.tiles.invalidate();
            st.totals.clear();
            st.places.clear();
        }
        Change::SessionEnded(hash) => st.sessions.forget(hash),
        Change::AccountChanged(id) => st.sessions.forget_user(*id),
        Change::Alarm(e) => st.alarm_feed.send(e.clone()),
    }
}

/// Drops everything derived, after notices may have been missed (the listener reconnected).
fn forget_all(st: &AppState) {
    st.late.changed();
    apply(st, &Change::Registry);
    st.sessions.clear();
}

/// Listens for the other servers' changes (PostgreSQL only), reconnecting when the database
/// restarts: notices missed meanwhile are made up for by forgetting every cached answer.
pub fn spawn_listener(st: &AppState) {
    if st.db.engine() != huanxin_store::Engine::Postgres {
        return;
    }
    let st = st.clone();
    tokio::spawn(async move {
        while !st.db.is_closed() {
            let mut listener = match st.db.listen().await {
                Ok(Some(l)) => l,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for the other servers' changes; trying again in 5 s");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            forget_all(&st);
            loop {
                match listener.next().await {
                    Ok(Heard::Notice(text)) => hear(&st, &text),
                    Ok(Heard::Reconnected) => forget_all(&st),
                    Err(_) if st.db.is_closed() => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the other servers' changes; listening again");
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

/// Applies another server's notice (ours and unreadable ones are ignored).
fn hear(st: &AppState, text: &str) {
    match serde_json::from_str::<Notice>(text) {
        Ok(n) if n.from != server_name() => apply(st, &n.change),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "an unreadable notice from another server"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_back_as_sent() {
        for c in [Change::Late, Change::Registry, Change::SessionEnded("ab".into()), Change::AccountChanged(7)] {
            let text = serde_json::to_string(&Notice { from: "a".into(), change: c.clone() }).unwrap();
            assert!(text.len() < huanxin_store::cluster::MAX_NOTICE);
            assert_eq!(serde_json::from_str::<Notice>(&text).unwrap().change, c);
        }
    }

    #[test]
    fn servers_have_names_of_their_own() {
        assert_eq!(server_name(), server_name());
        assert!(server_name().contains(&std::process::id().to_string()));
    }
}
