//! Background work, run once in the cluster (issue 18, docs/deploy.md): every server offers the
//! periodic jobs of the current period and takes waiting jobs from the `jobs` table; the server
//! that takes one renews its lease while it works, and another server takes it over when that
//! server dies. A job's outcome is written by its holder only, in one transaction with its audit
//! record, so a job finishes exactly once wherever it ran.

use crate::AppState;
use huanxin_domain::jobs as rules;
use huanxin_store::audit::{Actor, Change};
use huanxin_store::jobs::Job;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Checks the ledger's whole chain (asked for by a finance officer).
pub const LEDGER_VERIFY: &str = "ledger.verify";
/// Publishes the chains' heads (hourly; a day is published once).
pub const CHAINS_PUBLISH: &str = "chains.publish";
/// Puts late requests under supervision (every ten minutes).
pub const REQUESTS_SUPERVISE: &str = "requests.supervise";

/// Removes objects of the file store that no row names (daily).
pub const FILES_SWEEP: &str = "files.sweep";

/// Every kind this server runs.
const KINDS: &[&str] = &[LEDGER_VERIFY, CHAINS_PUBLISH, REQUESTS_SUPERVISE, FILES_SWEEP];

/// The periodic jobs and their periods.
const PERIODIC: &[(&str, i64)] = &[(CHAINS_PUBLISH, 3_600_000), (REQUESTS_SUPERVISE, 600_000), (FILES_SWEEP, 86_400_000)];

/// How old an object no row names must be before a sweep removes it: a file is staged before its
/// transaction, so a younger one may still be about to be named.
pub const SWEEP_GRACE_HOURS: i64 = 24;

/// How many jobs one server runs at once.
const AT_ONCE: usize = 2;

/// Starts offering periodic jobs and taking waiting ones.
pub fn spawn(st: &AppState) {
    let st = st.clone();
    tokio::spawn(async move {
        let running = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
        let mut offered_at = None::<tokio::time::Instant>;
        loop {
            if offered_at.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
                offered_at = Some(tokio::time::Instant::now());
                if let Err(e) = offer_periodic(&st).await {
                    tracing::warn!(error = %e, "periodic jobs not offered; trying again in 30 s");
                }
            }
            let Ok(slot) = running.clone().acquire_owned().await else { return };
            match st.db.take_job(crate::cluster::server_name(), KINDS).await {
                Ok(Some(job)) => {
                    let st = st.clone();
                    tokio::spawn(async move {
                        run(&st, job).await;
                        drop(slot);
                    });
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot look for jobs; trying again in a second"),
            }
            drop(slot);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

/// Offers this period's run of every periodic job (one row per period whoever offers it), and
/// forgets periodic runs older than a month.
async fn offer_periodic(st: &AppState) -> Result<(), huanxin_store::StoreError> {
    let now = huanxin_store::clock::utc_now().timestamp_millis();
    for (kind, every) in PERIODIC {
        st.db.offer_job(kind, &rules::slot(now, *every), "{}", 0, None).await?;
    }
    st.db.prune_jobs(30).await?;
    Ok(())
}

/// Runs a job this server took, renewing its lease; stops when the lease is lost.
async fn run(st: &AppState, job: Job) {
    let progress = Arc::new(AtomicI64::new(job.progress));
    let total = Arc::new(AtomicI64::new(job.total));
    let me = crate::cluster::server_name();
    let renewing = {
        let (db, progress, total, id) = (st.db.clone(), progress.clone(), total.clone(), job.id);
        async move {
            // Every second: progress shows as it goes; the lease outlives many missed renewals.
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                match db.renew_job(id, me, progress.load(Ordering::Relaxed), total.load(Ordering::Relaxed)).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    // The database away for a moment: the lease lasts fifteen renewals.
                    Err(e) => tracing::warn!(job = id, error = %e, "job's lease not renewed"),
                }
            }
        }
    };
    let outcome = tokio::select! {
        outcome = work(st, &job, &progress, &total) => outcome,
        () = renewing => {
            tracing::warn!(job = job.id, kind = %job.kind, "job taken over by another server; stopped here");
            return;
        }
    };
    if let Err(e) = finish(st, &job, outcome, progress.load(Ordering::Relaxed)).await {
        tracing::warn!(job = job.id, kind = %job.kind, error = %e, "job's outcome not written; another server runs it again");
    }
}

/// A job's own work: its result as JSON, or why it failed.
async fn work(st: &AppState, job: &Job, progress: &Arc<AtomicI64>, total: &Arc<AtomicI64>) -> Result<String, String> {
    match job.kind.as_str() {
        LEDGER_VERIFY => {
            total.store(st.db.ledger_entries().await.map_err(|e| e.to_string())?, Ordering::Relaxed);
            let check = st.db.verify_ledger_counting(progress).await.map_err(|e| e.to_string())?;
            let check = crate::funds::against_published(&st.db, &st.config, check).await.map_err(|e| e.to_string())?;
            serde_json::to_string(&check).map_err(|e| e.to_string())
        }
        CHAINS_PUBLISH => {
            let published = crate::chains::publish(&st.db, &st.config, huanxin_store::today()).await.map_err(|e| e.to_string())?;
            if let Some(place) = &published {
                tracing::info!(file = %place, "chain heads published");
            }
            Ok(serde_json::json!({ "published": published }).to_string())
        }
        REQUESTS_SUPERVISE => {
            let n = st.db.escalate_late_requests(huanxin_store::today()).await.map_err(|e| e.to_string())?;
            if n > 0 {
                tracing::info!(requests = n, "late requests put under supervision");
            }
            progress.store(n as i64, Ordering::Relaxed);
            Ok(serde_json::json!({ "supervised": n }).to_string())
        }
        FILES_SWEEP => {
            if matches!(st.db.files(), huanxin_store::files::FileStore::Database) {
                return Ok(serde_json::json!({ "skipped": "files are kept in the database" }).to_string());
            }
            let sweep = st.db.sweep_files(chrono::Duration::hours(SWEEP_GRACE_HOURS), false).await.map_err(|e| e.to_string())?;
            if sweep.orphans > 0 {
                tracing::info!(objects = sweep.orphans, bytes = sweep.orphan_bytes, "objects no row names removed from the file store");
            }
            progress.store(i64::try_from(sweep.orphans).unwrap_or(i64::MAX), Ordering::Relaxed);
            serde_json::to_string(&sweep).map_err(|e| e.to_string())
        }
        other => Err(format!("no such job kind: {other}")),
    }
}

/// Writes a job's outcome with its audit record, if this server still holds it.
async fn finish(st: &AppState, job: &Job, outcome: Result<String, String>, progress: i64) -> Result<(), huanxin_store::StoreError> {
    let mut tx = st.db.begin().await?;
    let done = outcome.is_ok();
    if !tx.finish_job(job.id, crate::cluster::server_name(), outcome.map(|r| (r, progress))).await? {
        tracing::warn!(job = job.id, "job finished after another server took it over; its outcome is that server's");
        return Ok(());
    }
    let after = serde_json::json!({ "kind": job.kind, "server": crate::cluster::server_name(), "attempt": job.attempts });
    tx.audit(
        &Actor::system("jobs"),
        Change {
            action: if done { "job.done" } else { "job.failed" },
            entity: "jobs",
            entity_id: job.id.to_string(),
            region_code: huanxin_domain::regions::RegionCode::country().as_str().to_string(),
            before: None,
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await
}
