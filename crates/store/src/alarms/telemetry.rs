//! Telemetry kept and let go: raw readings for `raw_days` (30 by default), hourly aggregates for
//! `hourly_days` (two years). On PostgreSQL the raw table is partitioned by day, made ahead by
//! the upkeep and dropped whole when old; on SQLite old hours are deleted by the key's first
//! column. The upkeep also aggregates each hour that has ended and is not yet rolled up.

use super::ingest::hour_of;
use crate::{Db, Engine, StoreError};
use huanxin_domain::access::Scope;
use serde::Serialize;

/// How long telemetry is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub raw_days: i64,
    pub hourly_days: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { raw_days: 30, hourly_days: 730 }
    }
}

/// What one upkeep did.
#[derive(Debug, Default, Serialize)]
pub struct Upkeep {
    pub hours_rolled_up: usize,
    /// Old raw hours (SQLite) or daily partitions (PostgreSQL) let go.
    pub raw_dropped: u64,
    pub hourly_dropped: u64,
    pub dead_letters_dropped: u64,
}

/// The dead letters kept at most (the newest).
pub const MAX_DEAD_LETTERS: i64 = 100_000;

/// How far back the upkeep looks for hours to aggregate: a reading may be a day late.
const ROLLUP_LOOKBACK_HOURS: i64 = 26;

/// One point of a device's chart: a minute's (24 hours) or an hour's (longer) mean, low and high.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Point {
    pub metric: String,
    /// The start of the minute or hour, in ms since the epoch.
    pub at_ms: i64,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    pub n: i64,
}

impl Db {
    /// Makes the partitions ahead (PostgreSQL), aggregates the hours that ended, lets go of what is
    /// older than `keep`. Run when the ingest starts and every few minutes after.
    pub async fn telemetry_upkeep(&self, now_ms: i64, keep: Retention) -> Result<Upkeep, StoreError> {
        let mut out = Upkeep::default();
        let current = hour_of(now_ms);
        let raw_cutoff = current - keep.raw_days.max(1) * 24;
        if self.engine() == Engine::Postgres {
            self.execute("CREATE TABLE IF NOT EXISTS telemetry_default PARTITION OF telemetry DEFAULT", vec![]).await?;
            let parts: Vec<(String,)> = self
                .fetch_all(
                    "SELECT c.relname::TEXT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                     WHERE i.inhparent = 'telemetry'::regclass",
                    vec![],
                )
                .await?;
            let today = current.div_euclid(24);
            for day in today - 1..=today + 2 {
                if !parts.iter().any(|(n,)| *n == format!("telemetry_d{day}")) {
                    self.add_day_partition(day).await?;
                }
            }
            for (name,) in parts {
                let Some(day) = name.strip_prefix("telemetry_d").and_then(|d| d.parse::<i64>().ok()) else { continue };
                if (day + 1) * 24 <= raw_cutoff {
                    self.execute(&format!("DROP TABLE telemetry_d{day}"), vec![]).await?;
                    out.raw_dropped += 1;
                }
            }
            out.raw_dropped += self.execute("DELETE FROM telemetry_default WHERE hour < $1", crate::args![raw_cutoff]).await?;
        } else {
            // Hour by hour, so that no one statement holds the write lock for long.
            let oldest = self.scalar("SELECT COALESCE(MIN(hour), $1) FROM telemetry", crate::args![raw_cutoff]).await?;
            for h in oldest..raw_cutoff {
                out.raw_dropped += self.execute("DELETE FROM telemetry WHERE hour = $1", crate::args![h]).await?;
            }
        }
        for h in current - ROLLUP_LOOKBACK_HOURS..current {
            if self.scalar("SELECT COUNT(*) FROM telemetry_rollups WHERE hour = $1", crate::args![h]).await? > 0 {
                continue;
            }
            self.roll_up_hour(h).await?;
            out.hours_rolled_up += 1;
        }
        let hourly_cutoff = current - keep.hourly_days.max(1) * 24;
        out.hourly_dropped = self.execute("DELETE FROM telemetry_hourly WHERE hour < $1", crate::args![hourly_cutoff]).await?;
        self.execute("DELETE FROM telemetry_rollups WHERE hour < $1", crate::args![current - ROLLUP_LOOKBACK_HOURS]).await?;
        // Dead letters: a month, and at most the newest 100,000 whatever a flood sends.
        let month_ago = chrono::DateTime::from_timestamp_millis(now_ms - 30 * 86_400_000)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        out.dead_letters_dropped = self.execute("DELETE FROM dead_letters WHERE received_at < $1", crate::args![month_ago]).await?;
        let newest = self.scalar("SELECT COALESCE(MAX(id), 0) FROM dead_letters", vec![]).await?;
        out.dead_letters_dropped +=
            self.execute("DELETE FROM dead_letters WHERE id <= $1", crate::args![newest - MAX_DEAD_LETTERS]).await?;
        Ok(out)
    }

    /// PostgreSQL: the day's partition, with the day's rows the default partition caught (made
    /// apart and attached, since a default partition holding rows of the day refuses a new one).
    async fn add_day_partition(&self, day: i64) -> Result<(), StoreError> {
        let (from, to) = (day * 24, (day + 1) * 24);
        let mut tx = self.begin().await?;
        tx.execute("LOCK TABLE telemetry_default IN ACCESS EXCLUSIVE MODE", vec![]).await?;
        tx.execute(&format!("CREATE TABLE telemetry_d{day} (LIKE telemetry INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"), vec![]).await?;
        tx.execute(&format!("INSERT INTO telemetry_d{day} SELECT * FROM telemetry_default WHERE hour >= {from} AND hour < {to}"), vec![])
            .await?;
        tx.execute(&format!("DELETE FROM telemetry_default WHERE hour >= {from} AND hour < {to}"), vec![]).await?;
        tx.execute(&format!("ALTER TABLE telemetry ATTACH PARTITION telemetry_d{day} FOR VALUES FROM ({from}) TO ({to})"), vec![]).await?;
        tx.commit().await
    }

    /// Aggregates one hour's readings (again) and marks it rolled up.
    async fn roll_up_hour(&self, hour: i64) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if tx.engine() == Engine::Postgres {
            // A late reading's batch takes its hour out of the rolled-up ones; the lock makes that
            // batch wait for this aggregate, or this aggregate see that batch's readings.
            tx.execute("LOCK TABLE telemetry_rollups IN SHARE ROW EXCLUSIVE MODE", vec![]).await?;
        }
        tx.execute(
            "INSERT INTO telemetry_hourly (device_id, hour, metric, n, total, low, high) \
             SELECT device_id, hour, metric, COUNT(*), SUM(value), MIN(value), MAX(value) FROM telemetry WHERE hour = $1 \
             GROUP BY device_id, hour, metric \
             ON CONFLICT (device_id, hour, metric) DO UPDATE SET n = excluded.n, total = excluded.total, low = excluded.low, high = excluded.high",
            crate::args![hour],
        )
        .await?;
        tx.execute(
            "INSERT INTO telemetry_rollups (hour, rolled_at) VALUES ($1, $2) ON CONFLICT (hour) DO UPDATE SET rolled_at = excluded.rolled_at",
            crate::args![hour, crate::now()],
        )
        .await?;
        tx.commit().await
    }

    /// A device's chart over the last `hours` before `now_ms`: per minute from the raw readings up
    /// to two days, per hour from the aggregates beyond. The device's estate must be in scope.
    pub async fn device_series(&self, scope: &Scope, device_id: i64, hours: i64, now_ms: i64) -> Result<Vec<Point>, StoreError> {
        let (estate_id,): (i64,) = self.fetch_one("SELECT estate_id FROM devices WHERE id = $1", crate::args![device_id]).await?;
        self.get_estate(scope, estate_id).await?;
        let current = hour_of(now_ms);
        if hours <= 48 {
            // The key starts with the hour: one lookup per hour finds the device's readings.
            let list: Vec<String> = (current - hours..=current).map(|h| h.to_string()).collect();
            self.fetch_all(
                &format!(
                    "SELECT metric, (at_ms / 60000) * 60000 AS at_ms, AVG(value) AS mean, MIN(value) AS low, MAX(value) AS high, \
                     COUNT(*) AS n FROM telemetry WHERE hour IN ({}) AND device_id = $1 AND at_ms >= $2 \
                     GROUP BY metric, at_ms / 60000 ORDER BY metric, 2",
                    list.join(",")
                ),
                crate::args![device_id, now_ms - hours * 3_600_000],
            )
            .await
        } else {
            let mut points: Vec<Point> = self
                .fetch_all(
                    "SELECT metric, hour * 3600000 AS at_ms, total / n AS mean, low, high, n FROM telemetry_hourly \
                     WHERE device_id = $1 AND hour >= $2",
                    crate::args![device_id, current - hours],
                )
                .await?;
            // The hours not yet aggregated (the current one, a late one) from the raw readings.
            let have: std::collections::HashSet<(String, i64)> = points.iter().map(|p| (p.metric.clone(), p.at_ms)).collect();
            let list: Vec<String> = (current - ROLLUP_LOOKBACK_HOURS..=current).map(|h| h.to_string()).collect();
            let recent: Vec<Point> = self
                .fetch_all(
                    &format!(
                        "SELECT metric, hour * 3600000 AS at_ms, AVG(value) AS mean, MIN(value) AS low, MAX(value) AS high, COUNT(*) AS n \
                         FROM telemetry WHERE hour IN ({}) AND device_id = $1 GROUP BY metric, hour",
                        list.join(",")
                    ),
                    crate::args![device_id],
                )
                .await?;
            points.extend(recent.into_iter().filter(|p| !have.contains(&(p.metric.clone(), p.at_ms))));
            points.sort_by(|a, b| (&a.metric, a.at_ms).cmp(&(&b.metric, b.at_ms)));
            Ok(points)
        }
    }
}
