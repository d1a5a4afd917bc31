//! Notices between servers on one PostgreSQL (LISTEN/NOTIFY): what one server changes, the others
//! hear within milliseconds, so that their caches and live feeds follow. SQLite runs one server
//! and has none.

use crate::{Db, StoreError};

/// The channel every server listens on.
pub const CHANNEL: &str = "huanxin_changes";

/// The largest notice PostgreSQL carries (8,000 bytes); a larger one is not sent.
pub const MAX_NOTICE: usize = 7_900;

/// What a listener heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// One notice's text.
    Notice(String),
    /// The connection was lost and made again: notices in between may be missed.
    Reconnected,
}

/// A listening connection on PostgreSQL.
pub struct Listener {
    inner: sqlx::postgres::PgListener,
}

impl Listener {
    /// The next notice; waits for it.
    pub async fn next(&mut self) -> Result<Heard, StoreError> {
        Ok(match self.inner.try_recv().await? {
            Some(n) => Heard::Notice(n.payload().to_string()),
            None => Heard::Reconnected,
        })
    }
}

impl Db {
    /// Tells every listening server `text` (PostgreSQL); nothing on SQLite.
    pub async fn notify(&self, text: &str) -> Result<(), StoreError> {
        if self.pg_pool().is_none() || text.len() > MAX_NOTICE {
            return Ok(());
        }
        self.execute("SELECT pg_notify($1, $2)", crate::args![CHANNEL, text]).await?;
        Ok(())
    }

    /// A listener on the cluster's channel (PostgreSQL); none on SQLite.
    pub async fn listen(&self) -> Result<Option<Listener>, StoreError> {
        let Some(pool) = self.pg_pool() else { return Ok(None) };
        let mut inner = sqlx::postgres::PgListener::connect_with(pool).await?;
        inner.listen(CHANNEL).await?;
        Ok(Some(Listener { inner }))
    }
}

/// Work only one server of a cluster may do at a time (the MQTT ingest, whose broker session is
/// one per deployment), held by a PostgreSQL advisory lock on a connection of its own: when the
/// holder dies its connection closes and the lock is free for another server at once, with no
/// clock involved. On SQLite there is one server and it always leads.
pub struct Leadership {
    conn: Option<sqlx::PgConnection>,
}

impl Leadership {
    /// Whether this server still leads: its connection (and so its lock) is alive.
    pub async fn still_held(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(c) => sqlx::query("SELECT 1").execute(&mut *c).await.is_ok(),
        }
    }
}

impl Db {
    /// Takes the lead of `work` if no other server holds it.
    pub async fn try_lead(&self, work: &str) -> Result<Option<Leadership>, StoreError> {
        let Some(pool) = self.pg_pool() else { return Ok(Some(Leadership { conn: None })) };
        // A connection of its own, out of the pool: it lives as long as the lead.
        let mut conn = pool.acquire().await?.detach();
        let (taken,): (bool,) =
            sqlx::query_as("SELECT pg_try_advisory_lock(hashtext($1))").bind(format!("huanxin:{work}")).fetch_one(&mut conn).await?;
        Ok(taken.then_some(Leadership { conn: Some(conn) }))
    }
}
