//! Background jobs in a table, taken once in a cluster (see `huanxin_domain::jobs`). PostgreSQL
//! takes the next job with `FOR UPDATE SKIP LOCKED`, so servers looking at once never wait for each
//! other nor take the same job; SQLite's single writer does the same by itself. Leases are on the
//! database's clock, so servers whose clocks differ still agree on when a lease ran out.

use crate::db::Engine;
use crate::{Db, StoreError};
use huanxin_domain::jobs::{JobState, LEASE_MS, MAX_ATTEMPTS};
use serde::Serialize;

/// A job as its progress is read, from any server.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub run_key: String,
    /// What it was asked to do (JSON).
    pub args: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub progress: i64,
    pub total: i64,
    /// Its outcome (JSON), once done.
    pub result: Option<String>,
    pub error: Option<String>,
    /// The server that holds or last held it.
    pub holder: Option<String>,
    /// How many times a server took it (more than one: a server died holding it).
    pub attempts: i64,
    pub created_by: Option<i64>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

const COLUMNS: &str =
    "id, kind, run_key, args, state, progress, total, result, error, holder, attempts, created_by, created_at, started_at, finished_at";

/// The database's clock in milliseconds since the epoch, as SQL.
fn now_ms(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        Engine::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    }
}

/// Jobs counted by state (the metrics).
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobCounts {
    pub queued: i64,
    pub running: i64,
    pub failed_last_day: i64,
}

impl Db {
    /// Offers a job of `kind` under `run_key` with `total` steps known so far: a new queued job,
    /// or the one already offered under that key (by this server or another). Answers the job's id
    /// and whether it is new.
    pub async fn offer_job(
        &self,
        kind: &str,
        run_key: &str,
        args: &str,
        total: i64,
        created_by: Option<i64>,
    ) -> Result<(i64, bool), StoreError> {
        let new = self
            .execute(
                "INSERT INTO jobs (kind, run_key, args, state, total, created_by, created_at) VALUES ($1, $2, $3, 'queued', $4, $5, $6) \
                 ON CONFLICT (kind, run_key) DO NOTHING",
                crate::args![kind, run_key, args, total, created_by, crate::now()],
            )
            .await?
            == 1;
        let id = self.scalar("SELECT id FROM jobs WHERE kind = $1 AND run_key = $2", crate::args![kind, run_key]).await?;
        Ok((id, new))
    }

    /// Starts a job of `kind` unless one of that kind is still open; answers the open one then.
    /// The key names the last finished job of the kind, the same for two asking at once, so they
    /// make one job.
    pub async fn start_job(&self, kind: &str, args: &str, total: i64, created_by: Option<i64>) -> Result<Job, StoreError> {
        if let Some(open) = self.open_job(kind).await? {
            return Ok(open);
        }
        let last = self
            .scalar("SELECT COALESCE(MAX(id), 0) FROM jobs WHERE kind = $1 AND state IN ('done', 'failed')", crate::args![kind])
            .await?;
        let (id, _) = self.offer_job(kind, &format!("after-{last}"), args, total, created_by).await?;
        self.job(id).await?.ok_or(StoreError::NotFound)
    }

    /// The open (queued or running) job of `kind`, if any.
    pub async fn open_job(&self, kind: &str) -> Result<Option<Job>, StoreError> {
        self.fetch_optional(
            &format!("SELECT {COLUMNS} FROM jobs WHERE kind = $1 AND state IN ('queued', 'running') ORDER BY id LIMIT 1"),
            crate::args![kind],
        )
        .await
    }

    /// The newest job of `kind`.
    pub async fn latest_job(&self, kind: &str) -> Result<Option<Job>, StoreError> {
        self.fetch_optional(&format!("SELECT {COLUMNS} FROM jobs WHERE kind = $1 ORDER BY id DESC LIMIT 1"), crate::args![kind]).await
    }

    /// One job.
    pub async fn job(&self, id: i64) -> Result<Option<Job>, StoreError> {
        self.fetch_optional(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"), crate::args![id]).await
    }

    /// Takes the next job of one of `kinds` for `holder`: a queued one, or one whose holder's
    /// lease ran out (a job taken [`MAX_ATTEMPTS`] times and left again is given up as failed
    /// instead). Only kinds the server knows: in an upgrade, old servers leave new kinds alone.
    pub async fn take_job(&self, holder: &str, kinds: &[&str]) -> Result<Option<Job>, StoreError> {
        if kinds.is_empty() || kinds.iter().any(|k| !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')) {
            return Err(StoreError::Config("job kinds are plain names".into()));
        }
        let known = kinds.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
        let now = now_ms(self.engine());
        // Looked at every second by every server: a read first, so that nothing waiting costs no
        // write (on SQLite, no turn of its one writer).
        let open = format!("kind IN ({known}) AND (state = 'queued' OR (state = 'running' AND lease_until < {now}))");
        if self.fetch_optional::<(i64,)>(&format!("SELECT id FROM jobs WHERE {open} LIMIT 1"), vec![]).await?.is_none() {
            return Ok(None);
        }
        self.execute(
            &format!(
                "UPDATE jobs SET state = 'failed', error = 'abandoned', finished_at = $1 \
                 WHERE kind IN ({known}) AND state = 'running' AND lease_until < {now} AND attempts >= $2"
            ),
            crate::args![crate::now(), MAX_ATTEMPTS],
        )
        .await?;
        let lock = match self.engine() {
            Engine::Postgres => "FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        let waiting = format!(
            "kind IN ({known}) AND (state = 'queued' OR (state = 'running' AND lease_until < {now} AND attempts < {MAX_ATTEMPTS}))"
        );
        self.fetch_optional(
            &format!(
                "UPDATE jobs SET state = 'running', holder = $1, lease_until = {now} + $2, attempts = attempts + 1, \
                 started_at = COALESCE(started_at, $3) \
                 WHERE id = (SELECT id FROM jobs WHERE {waiting} ORDER BY id LIMIT 1 {lock}) AND {waiting} \
                 RETURNING {COLUMNS}"
            ),
            crate::args![holder, LEASE_MS, crate::now()],
        )
        .await
    }

    /// Renews `holder`'s lease on a job and records its progress; false when the lease was lost
    /// (it ran out and another server took the job): the holder must stop.
    pub async fn renew_job(&self, id: i64, holder: &str, progress: i64, total: i64) -> Result<bool, StoreError> {
        let now = now_ms(self.engine());
        Ok(self
            .execute(
                &format!(
                    "UPDATE jobs SET lease_until = {now} + $3, progress = $4, total = $5 \
                     WHERE id = $1 AND holder = $2 AND state = 'running'"
                ),
                crate::args![id, holder, LEASE_MS, progress, total],
            )
            .await?
            == 1)
    }

    /// Jobs waiting and running, and those failed in the last day.
    pub async fn job_counts(&self) -> Result<JobCounts, StoreError> {
        let day_ago = (crate::clock::utc_now() - chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Ok(JobCounts {
            queued: self.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'queued'", vec![]).await?,
            running: self.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'running'", vec![]).await?,
            failed_last_day: self
                .scalar("SELECT COUNT(*) FROM jobs WHERE state = 'failed' AND finished_at >= $1", crate::args![day_ago])
                .await?,
        })
    }

    /// Forgets finished periodic jobs older than `days` (started ones are kept with their outcome).
    pub async fn prune_jobs(&self, days: i64) -> Result<u64, StoreError> {
        let before = (crate::clock::utc_now() - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.execute("DELETE FROM jobs WHERE state IN ('done', 'failed') AND finished_at < $1 AND created_by IS NULL", crate::args![before])
            .await
    }
}

impl crate::Tx {
    /// Ends a job held by `holder` as done with its result or failed with its error, in this
    /// transaction (with whatever else the job writes): false, and nothing to commit, when the
    /// holder lost the job meanwhile.
    pub async fn finish_job(&mut self, id: i64, holder: &str, outcome: Result<(String, i64), String>) -> Result<bool, StoreError> {
        let (state, result, error, progress) = match outcome {
            Ok((result, progress)) => (JobState::Done, Some(result), None, Some(progress)),
            Err(e) => (JobState::Failed, None, Some(e), None),
        };
        Ok(self
            .execute(
                "UPDATE jobs SET state = $3, result = $4, error = $5, progress = COALESCE($6, progress), finished_at = $7 \
                 WHERE id = $1 AND holder = $2 AND state = 'running'",
                crate::args![id, holder, state.as_str(), result, error, progress, crate::now()],
            )
            .await?
            == 1)
    }
}
