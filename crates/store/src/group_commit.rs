//! Group commit (issue 19): writes that arrive together are applied in order, one after the other,
//! inside one transaction by one writer task, and each caller is answered only after that
//! transaction has committed. Durability is as before (no answer before the commit is on disk), a
//! hash chain's order is the order of application, and the disk's flush and the write lock are paid
//! once per group instead of once per write.

use crate::db::{Db, Tx};
use crate::error::StoreError;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Wall-clock time spent in each step of a write path since the process started (or since
/// [`Steps::reset`]): what `huanxin-bench profile-ballot` prints as the breakdown of a ballot.
pub struct Steps {
    names: &'static [&'static str],
    nanos: [AtomicU64; 8],
    calls: [AtomicU64; 8],
}

impl Steps {
    /// Steps named in order (at most eight).
    pub const fn new(names: &'static [&'static str]) -> Steps {
        Steps { names, nanos: [const { AtomicU64::new(0) }; 8], calls: [const { AtomicU64::new(0) }; 8] }
    }

    /// Adds the time since `since` to step `i`.
    pub(crate) fn add(&self, i: usize, since: Instant) {
        if let (Some(n), Some(c)) = (self.nanos.get(i), self.calls.get(i)) {
            n.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Each step's name, total time and number of times taken.
    pub fn read(&self) -> Vec<(&'static str, Duration, u64)> {
        self.names
            .iter()
            .zip(self.nanos.iter().zip(&self.calls))
            .map(|(n, (nanos, calls))| (*n, Duration::from_nanos(nanos.load(Ordering::Relaxed)), calls.load(Ordering::Relaxed)))
            .collect()
    }

    /// Starts counting again from zero.
    pub fn reset(&self) {
        for (nanos, calls) in self.nanos.iter().zip(&self.calls) {
            nanos.store(0, Ordering::Relaxed);
            calls.store(0, Ordering::Relaxed);
        }
    }
}

/// The group steps every group-commit writer records in its [`Steps`]: 0 and 1.
const STEP_BEGIN: usize = 0;
const STEP_COMMIT: usize = 1;

/// The writes of one group, applied in order inside the group's transaction, one answer per write
/// in the same order. An outer `Err` is a store failure: the group is rolled back and each of its
/// writes is tried again alone, so only the failing one fails. A refusal that writes nothing
/// belongs in `Resp` (and must leave the transaction usable for the writes after it).
pub(crate) type Apply<Req, Resp> = for<'a> fn(&'a mut Tx, &'a [Req]) -> Applied<'a, Vec<Resp>>;

/// The future of one applied group.
pub(crate) type Applied<'a, Resp> = Pin<Box<dyn Future<Output = Result<Resp, StoreError>> + Send + 'a>>;

/// At most this many writes share one transaction, so that one group's wait stays short.
const MAX_GROUP: usize = 256;

/// Writes waiting for the writer beyond this make their callers wait to hand theirs over.
const QUEUE: usize = 4096;

struct Pending<Req, Resp> {
    req: Req,
    reply: oneshot::Sender<Result<Resp, StoreError>>,
}

/// The handle writes are sent through; its writer task ends when the last handle is dropped.
pub(crate) struct GroupCommit<Req, Resp> {
    sender: mpsc::Sender<Pending<Req, Resp>>,
}

/// What the writer task is given.
struct Writer<Req, Resp> {
    db: Db,
    apply: Apply<Req, Resp>,
    steps: &'static Steps,
}

impl<Req, Resp> std::fmt::Debug for GroupCommit<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("running", &!self.sender.is_closed()).finish()
    }
}

impl<Req: Send + Sync + 'static, Resp: Send + 'static> GroupCommit<Req, Resp> {
    /// Starts the writer task on `db` (which must not hold this handle, or the task never ends);
    /// the group's BEGIN and COMMIT are timed as steps 0 and 1 of `steps`.
    pub(crate) fn start(db: Db, apply: Apply<Req, Resp>, steps: &'static Steps) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(writer(Writer { db, apply, steps }, receiver));
        GroupCommit { sender }
    }

    /// Whether the writer task still runs (it stops only if it panicked).
    pub(crate) fn is_running(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Hands a write to the writer and waits until it is committed (or refused, or failed).
    pub(crate) async fn submit(&self, req: Req) -> Result<Resp, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender.send(Pending { req, reply }).await.map_err(|_| StoreError::Config("the group writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Config("the group writer stopped before answering".into()))?
    }
}

/// The writer kept in `slot`, started (again, should it have stopped) by `start`.
pub(crate) fn running<Req: Send + Sync + 'static, Resp: Send + 'static>(
    slot: &std::sync::Mutex<Option<std::sync::Arc<GroupCommit<Req, Resp>>>>,
    start: impl FnOnce() -> GroupCommit<Req, Resp>,
) -> Result<std::sync::Arc<GroupCommit<Req, Resp>>, StoreError> {
    let mut slot = slot.lock().map_err(|_| StoreError::Config("a group writer's slot is poisoned".into()))?;
    match slot.as_ref() {
        Some(w) if w.is_running() => Ok(w.clone()),
        _ => {
            let w = std::sync::Arc::new(start());
            *slot = Some(w.clone());
            Ok(w)
        }
    }
}

async fn writer<Req, Resp>(w: Writer<Req, Resp>, mut receiver: mpsc::Receiver<Pending<Req, Resp>>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while receiver.recv_many(&mut group, MAX_GROUP).await > 0 {
        let (reqs, replies): (Vec<Req>, Vec<_>) = std::mem::take(&mut group).into_iter().map(|p| (p.req, p.reply)).unzip();
        let t = Instant::now();
        let tx = match w.db.begin().await {
            Ok(tx) => tx,
            // The database cannot be written now (locked by another process, disk full): every
            // caller of the group hears it at once rather than each after its own wait, and so do
            // those queued meanwhile, rather than wait as long again.
            Err(e) => {
                tracing::warn!("a group of {} writes could not begin: {e}", reqs.len());
                for reply in replies {
                    let _ = reply.send(Err(e.again()));
                }
                while let Ok(p) = receiver.try_recv() {
                    let _ = p.reply.send(Err(e.again()));
                }
                continue;
            }
        };
        w.steps.add(STEP_BEGIN, t);
        match apply_group(&w, tx, &reqs).await {
            Ok(answers) => {
                for (reply, a) in replies.into_iter().zip(answers) {
                    // A caller that went away (a dropped connection) still has its write committed.
                    let _ = reply.send(Ok(a));
                }
            }
            Err(e) => {
                tracing::warn!("a group of {} writes failed ({e}); each is tried alone", reqs.len());
                let mut unable: Option<StoreError> = None;
                for (req, reply) in reqs.iter().zip(replies) {
                    let answer = match &unable {
                        Some(e) => Err(AloneError::Begin(e.again())),
                        None => apply_alone(&w, req).await,
                    };
                    if let Err(AloneError::Begin(e)) = &answer {
                        unable = Some(e.again());
                    }
                    let _ = reply.send(answer.map_err(AloneError::into_store));
                }
            }
        }
    }
}

async fn apply_group<Req, Resp>(w: &Writer<Req, Resp>, mut tx: Tx, reqs: &[Req]) -> Result<Vec<Resp>, StoreError> {
    let answers = (w.apply)(&mut tx, reqs).await?;
    if answers.len() != reqs.len() {
        return Err(StoreError::Config(format!("a group writer answered {} of {} writes", answers.len(), reqs.len())));
    }
    let t = Instant::now();
    tx.commit().await?;
    w.steps.add(STEP_COMMIT, t);
    Ok(answers)
}

/// Why a write tried alone failed: it could not begin (so neither can the next), or it failed itself.
enum AloneError {
    Begin(StoreError),
    Write(StoreError),
}

impl AloneError {
    fn into_store(self) -> StoreError {
        match self {
            AloneError::Begin(e) | AloneError::Write(e) => e,
        }
    }
}

async fn apply_alone<Req, Resp>(w: &Writer<Req, Resp>, req: &Req) -> Result<Resp, AloneError> {
    let mut tx = w.db.begin().await.map_err(AloneError::Begin)?;
    let answer = (w.apply)(&mut tx, std::slice::from_ref(req)).await.map_err(AloneError::Write)?;
    tx.commit().await.map_err(AloneError::Write)?;
    answer.into_iter().next().ok_or_else(|| AloneError::Write(StoreError::Config("a group writer gave no answer".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    static TEST_STEPS: Steps = Steps::new(&["begin", "commit"]);

    fn insert_each<'a>(tx: &'a mut Tx, values: &'a [i64]) -> Applied<'a, Vec<u64>> {
        Box::pin(async move {
            let mut answers = Vec::with_capacity(values.len());
            for v in values {
                answers.push(tx.execute("INSERT INTO t (v) VALUES ($1)", crate::args![*v]).await?);
            }
            Ok(answers)
        })
    }

    /// With SQLite's write lock held by another process, every write of the queue hears "busy"
    /// (HTTP 503) and nothing is written; once the lock is let go, writes go through again.
    #[tokio::test]
    async fn a_locked_database_answers_every_queued_write_busy() {
        use sqlx::Connection;
        let path = std::env::temp_dir().join(format!("huanxin-busy-{}.db", std::process::id()));
        let url = path.to_string_lossy().to_string();
        let db = Db::connect_waiting(&url, Duration::from_millis(50)).await.unwrap();
        db.execute("CREATE TABLE t (v INTEGER)", vec![]).await.unwrap();
        let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{url}")).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
        let writer = std::sync::Arc::new(GroupCommit::start(db.without_writers(), insert_each, &TEST_STEPS));
        let calls: Vec<_> = (0..40)
            .map(|v| {
                let w = writer.clone();
                tokio::spawn(async move { w.submit(v).await })
            })
            .collect();
        for call in calls {
            let answer = call.await.unwrap();
            assert!(matches!(answer, Err(StoreError::Busy(_))), "{answer:?}");
        }
        sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
        assert_eq!(db.scalar("SELECT COUNT(*) FROM t", vec![]).await.unwrap(), 0);
        assert_eq!(writer.submit(7).await.unwrap(), 1);
        assert_eq!(db.scalar("SELECT COUNT(*) FROM t", vec![]).await.unwrap(), 1);
        drop(writer);
        db.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{url}{suffix}"));
        }
    }
}
