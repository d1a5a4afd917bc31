//! One handle for two engines: the same SQL text runs on SQLite or PostgreSQL, chosen by URL.

use crate::error::StoreError;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, FromRow, Postgres, Sqlite, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Which engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A bound value. Nulls carry their type, since PostgreSQL checks parameter types.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    I(Option<i64>),
    F(Option<f64>),
    S(Option<String>),
    B(bool),
    /// Bytes: BLOB on SQLite, BYTEA on PostgreSQL.
    Bytes(Vec<u8>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::I(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::I(v)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Arg::F(Some(v))
    }
}
impl From<Option<f64>> for Arg {
    fn from(v: Option<f64>) -> Self {
        Arg::F(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::S(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::S(Some(v.clone()))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::S(Some(v.to_string()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::S(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::B(v)
    }
}

/// Builds a `Vec<Arg>` from values of mixed types.
#[macro_export]
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::Arg::from($v)),*] };
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::I(v) => q.bind(v),
                Arg::F(v) => q.bind(v),
                Arg::S(v) => q.bind(v),
                Arg::B(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Rewrites `$1, $2, …` to plain `?` for SQLite when the placeholders appear once each and in
/// order: SQLite looks up numbered parameters by a linear scan on every bind, which makes a
/// many-row INSERT quadratic; plain `?` binds by position. Other statements keep `$N`.
fn sqlite_sql(sql: &str) -> std::borrow::Cow<'_, str> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut expected = 1u64;
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            if end > start {
                match sql[start..end].parse::<u64>() {
                    Ok(n) if n == expected => {
                        out.push_str(&sql[last..i]);
                        out.push('?');
                        expected += 1;
                        last = end;
                    }
                    _ => return std::borrow::Cow::Borrowed(sql),
                }
                i = end;
                continue;
            }
        }
        i += 1;
    }
    if expected == 1 {
        return std::borrow::Cow::Borrowed(sql);
    }
    out.push_str(&sql[last..]);
    std::borrow::Cow::Owned(out)
}

/// A row type readable from both engines.
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The database: a pool on one of the two engines.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    /// SQLite allows one writer; serialising write transactions here avoids lock-upgrade failures.
    write_lock: Arc<Mutex<()>>,
    /// How long a write waits for the database held elsewhere (SQLite's busy timeout, and the wait
    /// for `write_lock`) before it answers [`StoreError::Busy`].
    busy_wait: Duration,
    /// Region names already read: regions change only when migrations load them, so names are kept.
    pub(crate) region_names: Arc<std::sync::RwLock<std::collections::HashMap<String, String>>>,
    /// The last write that failed for want of disk (or an I/O error), until a write succeeds again:
    /// what the health check reports.
    write_failure: Arc<std::sync::Mutex<Option<String>>>,
    /// The writer that groups ballots into shared commits, started on the first ballot.
    pub(crate) ballot_writer: Arc<std::sync::Mutex<Option<crate::decisions::BallotWriter>>>,
    /// The writer that groups bindings by invitation code into shared commits.
    pub(crate) bind_writer: Arc<std::sync::Mutex<Option<crate::residents::BindWriter>>>,
    /// The writer that groups bindings by text-message code into shared commits.
    pub(crate) phone_bind_writer: Arc<std::sync::Mutex<Option<crate::residents::PhoneBindWriter>>>,
    /// The writer of approved payments (see [`crate::group_commit`]).
    pub(crate) approval_writer: Arc<std::sync::Mutex<Option<crate::funds::ApprovalWriter>>>,
    /// The writer of payments asked for.
    pub(crate) request_writer: Arc<std::sync::Mutex<Option<crate::funds::RequestWriter>>>,
    /// Where files' contents go (see [`crate::files`]).
    pub(crate) files: crate::files::FileStore,
}

/// A SQLite write transaction on a pooled connection, begun and ended by our own statements: after
/// a failed COMMIT (a full disk) sqlx's own transaction could leave the connection believing it was
/// still inside one, and every later write on it failed until a restart.
struct SqliteTx {
    conn: Option<sqlx::pool::PoolConnection<Sqlite>>,
}

enum TxInner {
    Sqlite(SqliteTx),
    /// A read snapshot on SQLite (deferred; nothing to recover).
    SqliteRead(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A write transaction; dropped without [`Tx::commit`], it rolls back, so nothing is half-written.
pub struct Tx {
    inner: TxInner,
    /// Where the files this transaction keeps go.
    pub(crate) files: crate::files::FileStore,
    _guard: Option<OwnedMutexGuard<()>>,
    write_failure: Option<Arc<std::sync::Mutex<Option<String>>>>,
}

impl Drop for Tx {
    fn drop(&mut self) {
        let TxInner::Sqlite(t) = &mut self.inner else { return };
        let Some(mut conn) = t.conn.take() else { return };
        // Rolled back before the write lock is let go, so the next writer finds the database free;
        // a connection that cannot roll back is closed rather than handed out again.
        let guard = self._guard.take();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                        if !no_transaction(&e) {
                            conn.close_on_drop();
                        }
                    }
                    drop(conn);
                    drop(guard);
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }
}

impl SqliteTx {
    fn conn_mut(&mut self) -> Result<&mut sqlx::SqliteConnection, StoreError> {
        self.conn.as_deref_mut().ok_or_else(|| StoreError::Config("the transaction has already ended".into()))
    }
}

/// SQLite's answer to ROLLBACK or COMMIT when no transaction is open (it already ended itself).
fn no_transaction(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.message().contains("no transaction is active"))
}

/// Methods shared by [`Db`] (autocommit) and [`Tx`], written once; `mut` for the transaction.
macro_rules! query_methods {
    ($($m:tt)?) => {
        /// All rows of a query.
        pub async fn fetch_all<T: Row>(&$($m)? self, sql: &str, args: Vec<Arg>) -> Result<Vec<T>, StoreError> {
            Ok(match self.inner_ref()? {
                Either::S(e) => {
                    let sql = sqlite_sql(sql);
                    bind_all!(sqlx::query_as::<Sqlite, T>(&sql), args).fetch_all(e).await?
                }
                Either::P(e) => bind_all!(sqlx::query_as::<Postgres, T>(sql), args).fetch_all(e).await?,
            })
        }

        /// At most one row (an `INSERT … RETURNING` too: a full disk is kept for the health check).
        pub async fn fetch_optional<T: Row>(&$($m)? self, sql: &str, args: Vec<Arg>) -> Result<Option<T>, StoreError> {
            let r: Result<Option<T>, StoreError> = async {
                Ok(match self.inner_ref()? {
                    Either::S(e) => {
                        let sql = sqlite_sql(sql);
                        bind_all!(sqlx::query_as::<Sqlite, T>(&sql), args).fetch_optional(e).await?
                    }
                    Either::P(e) => bind_all!(sqlx::query_as::<Postgres, T>(sql), args).fetch_optional(e).await?,
                })
            }
            .await;
            self.keep_disk_failure(r)
        }

        /// Exactly one row, or [`StoreError::NotFound`].
        pub async fn fetch_one<T: Row>(&$($m)? self, sql: &str, args: Vec<Arg>) -> Result<T, StoreError> {
            self.fetch_optional(sql, args).await?.ok_or(StoreError::NotFound)
        }

        /// A single integer (a count, an id); no row or NULL reads as 0.
        pub async fn scalar(&$($m)? self, sql: &str, args: Vec<Arg>) -> Result<i64, StoreError> {
            let v: Option<Option<i64>> = match self.inner_ref()? {
                Either::S(e) => {
                    let sql = sqlite_sql(sql);
                    bind_all!(sqlx::query_scalar::<Sqlite, Option<i64>>(&sql), args).fetch_optional(e).await?
                }
                Either::P(e) => bind_all!(sqlx::query_scalar::<Postgres, Option<i64>>(sql), args).fetch_optional(e).await?,
            };
            Ok(v.flatten().unwrap_or(0))
        }

        /// Runs a statement; returns the number of rows it changed.
        pub async fn execute(&$($m)? self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
            let r: Result<u64, StoreError> = async {
                Ok(match self.inner_ref()? {
                    Either::S(e) => {
                        let sql = sqlite_sql(sql);
                        bind_all!(sqlx::query::<Sqlite>(&sql), args).execute(e).await?.rows_affected()
                    }
                    Either::P(e) => bind_all!(sqlx::query::<Postgres>(sql), args).execute(e).await?.rows_affected(),
                })
            }
            .await;
            self.keep_disk_failure(r)
        }

        /// Notes a full disk (or an I/O error) for the health check, and hands the result on.
        fn keep_disk_failure<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
            if let (Err(StoreError::DiskFull(m)), Some(w)) = (&r, self.failure_slot()) {
                if let Ok(mut w) = w.lock() {
                    *w = Some(m.clone());
                }
            }
            r
        }

        /// Inserts many rows in few statements: `columns` names the columns, each row gives their values.
        pub async fn insert_many(&$($m)? self, table: &str, columns: &[&str], rows: Vec<Vec<Arg>>) -> Result<u64, StoreError> {
            let mut done = 0;
            for (sql, args) in multi_row_inserts(table, columns, rows, "") {
                done += self.execute(&sql, args).await?;
            }
            Ok(done)
        }
    };
}

/// One row in PostgreSQL's COPY CSV format: text quoted, NULL as an unquoted empty field.
fn csv_line(buf: &mut Vec<u8>, row: &[Arg]) {
    use std::io::Write;
    for (i, a) in row.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let _ = match a {
            Arg::I(Some(v)) => write!(buf, "{v}"),
            Arg::F(Some(v)) => write!(buf, "{v}"),
            Arg::B(v) => write!(buf, "{}", if *v { "t" } else { "f" }),
            // bytea's hex input form.
            Arg::Bytes(v) => write!(buf, "\\x{}", hex::encode(v)),
            Arg::S(Some(s)) => {
                buf.push(b'"');
                for b in s.bytes() {
                    if b == b'"' {
                        buf.push(b'"');
                    }
                    buf.push(b);
                }
                buf.push(b'"');
                Ok(())
            }
            Arg::I(None) | Arg::F(None) | Arg::S(None) => Ok(()),
        };
    }
    buf.push(b'\n');
}

/// `($1,$2),($3,$4)…`: the VALUES list of `rows` rows of `per_row` parameters each.
pub(crate) fn values_placeholders(rows: usize, per_row: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(rows * per_row * 7);
    let mut n = 0;
    for r in 0..rows {
        out.push_str(if r > 0 { ",(" } else { "(" });
        for c in 0..per_row {
            n += 1;
            let _ = write!(out, "{}${n}", if c > 0 { "," } else { "" });
        }
        out.push(')');
    }
    out
}

/// Splits rows into multi-row INSERT statements that stay under both engines' parameter limits.
pub(crate) fn multi_row_inserts(table: &str, columns: &[&str], rows: Vec<Vec<Arg>>, tail: &str) -> Vec<(String, Vec<Arg>)> {
    let per_row = columns.len().max(1);
    let chunk = (30_000 / per_row).clamp(1, 1000);
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<Vec<Arg>> = rows.by_ref().take(chunk).collect();
        let sql = format!("INSERT INTO {table} ({}) VALUES {} {tail}", columns.join(", "), values_placeholders(batch.len(), per_row));
        out.push((sql, batch.into_iter().flatten().collect()));
    }
    out
}

enum Either<A, B> {
    S(A),
    P(B),
}

impl Db {
    /// Opens the database at `url`: `postgres://…` for PostgreSQL, else a SQLite file path
    /// (optionally `sqlite://path`), created if missing, in WAL mode with durable commits.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        Db::connect_waiting(url, Duration::from_secs(10)).await
    }

    /// [`Db::connect`], with SQLite waiting at most `busy_wait` for a write lock held by another
    /// process before the write answers [`StoreError::Busy`].
    pub(crate) async fn connect_waiting(url: &str, busy_wait: Duration) -> Result<Db, StoreError> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(
                    sqlx::postgres::PgConnectOptions::from_str(url)
                        .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?
                        .log_slow_statements(tracing::log::LevelFilter::Off, Duration::from_secs(60)),
                )
                .await
                .map_err(|e| StoreError::Config(format!("cannot connect to PostgreSQL: {e}")))?;
            Pool::Postgres(pool)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let opts = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
                .map_err(|e| StoreError::Config(format!("bad SQLite path {path}: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(busy_wait)
                .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
                // Reads through a memory map, not a copy per page: the kept statistics of a country
                // are gigabytes, read a few scattered rows at a time (a dashboard page 4.0 → 2.5 ms).
                .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
                // The committing writer checkpoints only past this backstop; the checkpointer below
                // keeps the log short from its own connection (see `checkpoint_in_background`).
                .pragma("wal_autocheckpoint", WAL_BACKSTOP_PAGES.to_string())
                .log_slow_statements(tracing::log::LevelFilter::Off, Duration::from_secs(60));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Config(format!("cannot open SQLite file {path}: {e}")))?;
            Pool::Sqlite(pool)
        };
        let write_lock = Arc::new(Mutex::new(()));
        if let Pool::Sqlite(p) = &pool {
            checkpoint_in_background(p.clone(), Arc::downgrade(&write_lock));
        }
        Ok(Db {
            pool,
            write_lock,
            busy_wait,
            region_names: Arc::default(),
            write_failure: Arc::default(),
            ballot_writer: Arc::default(),
            bind_writer: Arc::default(),
            phone_bind_writer: Arc::default(),
            approval_writer: Arc::default(),
            request_writer: Arc::default(),
            files: crate::files::FileStore::Database,
        })
    }

    /// The same database without its group writers: what a writer task holds, so that it does not
    /// keep itself alive.
    pub(crate) fn without_writers(&self) -> Db {
        Db {
            ballot_writer: Arc::default(),
            bind_writer: Arc::default(),
            phone_bind_writer: Arc::default(),
            approval_writer: Arc::default(),
            request_writer: Arc::default(),
            ..self.clone()
        }
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        match self.pool {
            Pool::Sqlite(_) => Engine::Sqlite,
            Pool::Postgres(_) => Engine::Postgres,
        }
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match &self.pool {
            // IMMEDIATE takes SQLite's write lock at BEGIN, where the busy timeout applies: a
            // deferred transaction that reads first fails at once on its first write when any
            // other connection holds the lock (e.g. a dropped transaction not yet rolled back).
            Pool::Sqlite(p) => {
                // Bounded like SQLite's own wait, so that writes queued behind one that waits for
                // another process's lock do not each wait in turn.
                let guard = tokio::time::timeout(self.busy_wait, self.write_lock.clone().lock_owned())
                    .await
                    .map_err(|_| StoreError::Busy(format!("another write has waited for the database for over {:?}", self.busy_wait)))?;
                let mut conn = p.acquire().await?;
                if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
                    let e = StoreError::from(e);
                    // Held by another process: waiting again would only double the wait.
                    if matches!(e, StoreError::Busy(_)) {
                        return Err(e);
                    }
                    // A connection left inside a transaction: end it and begin again, or drop it.
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    if sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await.is_err() {
                        conn.close_on_drop();
                        return Err(self.note(e));
                    }
                }
                Tx {
                    inner: TxInner::Sqlite(SqliteTx { conn: Some(conn) }),
                    files: self.files.clone(),
                    _guard: Some(guard),
                    write_failure: Some(self.write_failure.clone()),
                }
            }
            Pool::Postgres(p) => Tx {
                inner: TxInner::Postgres(p.begin().await.map_err(|e| self.note(e.into()))?),
                files: self.files.clone(),
                _guard: None,
                write_failure: Some(self.write_failure.clone()),
            },
        })
    }

    /// Keeps a disk failure for the health check, and hands the error on.
    fn note(&self, e: StoreError) -> StoreError {
        if let StoreError::DiskFull(m) = &e {
            if let Ok(mut w) = self.write_failure.lock() {
                *w = Some(m.clone());
            }
        }
        e
    }

    fn failure_slot(&self) -> Option<&std::sync::Mutex<Option<String>>> {
        Some(&self.write_failure)
    }

    /// The last write that failed for want of disk, if no write has succeeded since.
    pub fn write_failure(&self) -> Option<String> {
        self.write_failure.lock().ok().and_then(|w| w.clone())
    }

    /// Starts a read transaction that sees one consistent snapshot (for backups and reports).
    pub async fn begin_snapshot(&self) -> Result<Tx, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => {
                Tx { inner: TxInner::SqliteRead(p.begin().await?), files: self.files.clone(), _guard: None, write_failure: None }
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
                Tx { inner: TxInner::Postgres(tx), files: self.files.clone(), _guard: None, write_failure: None }
            }
        })
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => {
                p.close().await;
                // Connections closed at the same moment (the checkpointer's and a writer's) can each
                // see the other still open and leave the write-ahead log behind; one more, alone,
                // checkpoints and removes it, so a closed database is one file again.
                let options = (*p.connect_options()).clone();
                if let Ok(c) = options.connect().await {
                    let _ = sqlx::Connection::close(c).await;
                }
            }
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// The PostgreSQL pool (none on SQLite): what cluster notices go through.
    pub(crate) fn pg_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(p) => Some(p),
            Pool::Sqlite(_) => None,
        }
    }

    /// Whether the pool was closed (the server is stopping).
    pub fn is_closed(&self) -> bool {
        match &self.pool {
            Pool::Sqlite(p) => p.is_closed(),
            Pool::Postgres(p) => p.is_closed(),
        }
    }

    /// The pool's connections: open, and idle among them (the metrics).
    pub fn pool_connections(&self) -> (u32, usize) {
        match &self.pool {
            Pool::Sqlite(p) => (p.size(), p.num_idle()),
            Pool::Postgres(p) => (p.size(), p.num_idle()),
        }
    }

    fn inner_ref(&self) -> Result<Either<&SqlitePool, &PgPool>, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => Either::S(p),
            Pool::Postgres(p) => Either::P(p),
        })
    }

    /// Runs several statements separated by `;` (migrations).
    pub(crate) async fn raw_batch(tx: &mut Tx, sql: &str) -> Result<(), StoreError> {
        match &mut tx.inner {
            TxInner::Sqlite(t) => {
                sqlx::raw_sql(sql).execute(t.conn_mut()?).await?;
            }
            TxInner::SqliteRead(t) => {
                sqlx::raw_sql(sql).execute(&mut **t).await?;
            }
            TxInner::Postgres(t) => {
                sqlx::raw_sql(sql).execute(&mut **t).await?;
            }
        }
        Ok(())
    }

    query_methods!();
}

impl Tx {
    fn failure_slot(&self) -> Option<&std::sync::Mutex<Option<String>>> {
        self.write_failure.as_deref()
    }

    /// Makes the transaction's changes permanent.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = match &mut self.inner {
            TxInner::Sqlite(t) => match t.conn.as_mut() {
                Some(conn) => match sqlx::query("COMMIT").execute(&mut **conn).await {
                    Ok(_) => {
                        t.conn = None;
                        Ok(())
                    }
                    // Left to `Drop`, which rolls back what is still open or closes the connection.
                    Err(e) => Err(e.into()),
                },
                None => Err(StoreError::Config("the transaction has already ended".into())),
            },
            TxInner::SqliteRead(_) | TxInner::Postgres(_) => {
                match std::mem::replace(&mut self.inner, TxInner::Sqlite(SqliteTx { conn: None })) {
                    TxInner::SqliteRead(t) => t.commit().await.map_err(StoreError::from),
                    TxInner::Postgres(t) => t.commit().await.map_err(StoreError::from),
                    TxInner::Sqlite(_) => Ok(()),
                }
            }
        };
        if let Some(w) = &self.write_failure {
            if let Ok(mut w) = w.lock() {
                match &result {
                    Ok(()) => *w = None,
                    Err(StoreError::DiskFull(m)) => *w = Some(m.clone()),
                    Err(_) => {}
                }
            }
        }
        result
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        match self.inner {
            TxInner::Sqlite(_) | TxInner::SqliteRead(_) => Engine::Sqlite,
            TxInner::Postgres(_) => Engine::Postgres,
        }
    }

    fn inner_ref(&mut self) -> Result<Either<&mut sqlx::SqliteConnection, &mut sqlx::PgConnection>, StoreError> {
        Ok(match &mut self.inner {
            TxInner::Sqlite(t) => Either::S(t.conn_mut()?),
            TxInner::SqliteRead(t) => Either::S(&mut **t),
            TxInner::Postgres(t) => Either::P(&mut **t),
        })
    }

    /// Prepares `table` for a load of `incoming` rows: when they outnumber the rows already there,
    /// its non-unique indexes (and, on PostgreSQL, foreign keys) are dropped (unique ones stay,
    /// upserts need them) and the statements that rebuild them are returned for [`Tx::rebuild_indexes`]. Building an index once after the
    /// load is several times faster than keeping it up to date row by row; the usual bulk-load
    /// advice for both engines. Readers of other connections still see the old snapshot meanwhile.
    pub async fn bulk_load_begin(&mut self, table: &str, incoming: usize) -> Result<Vec<String>, StoreError> {
        let existing = self.scalar(&format!("SELECT COUNT(*) FROM {table}"), vec![]).await?;
        // Measured (docs/benchmarks.md): SQLite keeps indexes up to date about as fast as it rebuilds
        // them once the table is as large as the load. PostgreSQL checks each row's foreign keys with
        // a locking read, ~30 µs a row in a table of millions, while re-adding a key checks every
        // row in one join: rebuilding pays there until the table is many times the load.
        let worth = match self.engine() {
            Engine::Sqlite => incoming,
            Engine::Postgres => incoming.saturating_mul(16),
        };
        if usize::try_from(existing).unwrap_or(usize::MAX) >= worth || incoming < BULK_LOAD_MIN_ROWS {
            return Ok(Vec::new());
        }
        let sql = match self.engine() {
            Engine::Sqlite => {
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL \
                 AND sql NOT LIKE 'CREATE UNIQUE%' ORDER BY name"
            }
            Engine::Postgres => {
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 \
                 AND indexdef NOT LIKE 'CREATE UNIQUE%' ORDER BY indexname"
            }
        };
        let indexes: Vec<(String, String)> = self.fetch_all(sql, crate::args![table]).await?;
        let mut rebuild = Vec::new();
        match self.engine() {
            // A larger page cache keeps the load's pages from spilling to the WAL before commit.
            Engine::Sqlite => self.execute(&format!("PRAGMA cache_size = -{BULK_LOAD_CACHE_KIB}"), vec![]).await.map(|_| ())?,
            Engine::Postgres => rebuild = self.drop_foreign_keys(table).await?,
        }
        for (name, def) in indexes {
            self.execute(&format!("DROP INDEX {name}"), vec![]).await?;
            rebuild.insert(0, def);
        }
        Ok(rebuild)
    }

    /// PostgreSQL: drops `table`'s foreign keys for a load and returns the statements that add them
    /// back. PostgreSQL checks a foreign key with one locking query per row; adding the key back
    /// afterwards checks every row in one join. (SQLite's check is a plain index lookup: nothing to do.)
    pub async fn drop_foreign_keys(&mut self, table: &str) -> Result<Vec<String>, StoreError> {
        if self.engine() == Engine::Sqlite {
            return Ok(Vec::new());
        }
        let keys: Vec<(String, String)> = self
            .fetch_all(
                "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
                 WHERE conrelid = $1::regclass AND contype = 'f' ORDER BY conname",
                crate::args![table],
            )
            .await?;
        let mut add = Vec::new();
        for (name, def) in keys {
            self.execute(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}"), vec![]).await?;
            add.push(format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}"));
        }
        Ok(add)
    }

    /// Inserts many rows, `tail` (ON CONFLICT …) applying to each: multi-row INSERT statements on
    /// SQLite; on PostgreSQL COPY into a scratch table and one INSERT … SELECT, which is several
    /// times faster there than binding every value, or COPY straight into `table` when `tail` is
    /// empty (the caller knows every row is new).
    pub async fn insert_rows(&mut self, table: &str, columns: &[&str], rows: Vec<Vec<Arg>>, tail: &str) -> Result<u64, StoreError> {
        match self.engine() {
            Engine::Sqlite => {
                let mut done = 0;
                for (sql, args) in multi_row_inserts(table, columns, rows, tail) {
                    done += self.execute(&sql, args).await?;
                }
                Ok(done)
            }
            // Rows known to be new go straight in with COPY.
            Engine::Postgres if tail.is_empty() => self.copy_into(table, columns, rows).await,
            Engine::Postgres => {
                let sql = self.copy_to_scratch(table, columns, rows).await?;
                let done = self.execute(&format!("{sql} {tail}"), vec![]).await?;
                self.execute("DROP TABLE huanxin_load", vec![]).await?;
                Ok(done)
            }
        }
    }

    /// Runs `sql` over `rows` given to it as the table `huanxin_src` with `columns` (name, SQL
    /// type): on SQLite batch by batch, the batch written as `WITH huanxin_src(…) AS (VALUES …)`
    /// before `sql`; on PostgreSQL once, from a temporary table filled by COPY. Lets a load join
    /// its rows to stored ones inside the engine instead of fetching ids row by row.
    pub async fn execute_with_rows(&mut self, columns: &[(&str, &str)], rows: Vec<Vec<Arg>>, sql: &str) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
        match self.engine() {
            Engine::Sqlite => {
                let per_row = columns.len().max(1);
                let chunk = (30_000 / per_row).clamp(1, 1000);
                let row_ph = format!("({})", vec!["?"; per_row].join(","));
                let mut done = 0;
                let mut rows = rows.into_iter().peekable();
                while rows.peek().is_some() {
                    let batch: Vec<Vec<Arg>> = rows.by_ref().take(chunk).collect();
                    let values = vec![row_ph.as_str(); batch.len()].join(",");
                    let text = format!("WITH huanxin_src({}) AS (VALUES {values}) {sql}", names.join(", "));
                    done += self.execute(&text, batch.into_iter().flatten().collect()).await?;
                }
                Ok(done)
            }
            Engine::Postgres => {
                let defs: Vec<String> = columns.iter().map(|(n, t)| format!("{n} {t}")).collect();
                self.execute(&format!("CREATE TEMP TABLE huanxin_src ({})", defs.join(", ")), vec![]).await?;
                self.copy_into("huanxin_src", &names, rows).await?;
                // Each row is meant to meet a few stored ones through an index; without statistics
                // on the fresh rows the planner may hash the whole stored table for every batch.
                self.execute("SET LOCAL enable_hashjoin = off", vec![]).await?;
                self.execute("SET LOCAL enable_mergejoin = off", vec![]).await?;
                let done = self.execute(sql, vec![]).await;
                self.execute("RESET enable_hashjoin", vec![]).await?;
                self.execute("RESET enable_mergejoin", vec![]).await?;
                let done = done?;
                self.execute("DROP TABLE huanxin_src", vec![]).await?;
                Ok(done)
            }
        }
    }

    /// PostgreSQL: copies `rows` into a scratch table shaped like `table` and returns the
    /// `INSERT INTO table … SELECT … FROM` scratch statement that moves them over.
    async fn copy_to_scratch(&mut self, table: &str, columns: &[&str], rows: Vec<Vec<Arg>>) -> Result<String, StoreError> {
        let TxInner::Postgres(t) = &mut self.inner else {
            return Err(StoreError::Config("COPY needs PostgreSQL".into()));
        };
        let cols = columns.join(", ");
        sqlx::query(&format!("CREATE TEMP TABLE huanxin_load AS SELECT {cols} FROM {table} WITH NO DATA")).execute(&mut **t).await?;
        self.copy_into("huanxin_load", columns, rows).await?;
        Ok(format!("INSERT INTO {table} ({cols}) SELECT {cols} FROM huanxin_load"))
    }

    /// PostgreSQL: COPY `rows` into `table`; returns how many were written.
    async fn copy_into(&mut self, table: &str, columns: &[&str], rows: Vec<Vec<Arg>>) -> Result<u64, StoreError> {
        let TxInner::Postgres(t) = &mut self.inner else {
            return Err(StoreError::Config("COPY needs PostgreSQL".into()));
        };
        let mut copy = t.copy_in_raw(&format!("COPY {table} ({}) FROM STDIN WITH (FORMAT csv)", columns.join(", "))).await?;
        let mut buf = Vec::with_capacity(1 << 20);
        for row in rows {
            csv_line(&mut buf, &row);
            if buf.len() >= 1 << 20 {
                copy.send(std::mem::take(&mut buf)).await?;
            }
        }
        if !buf.is_empty() {
            copy.send(buf).await?;
        }
        Ok(copy.finish().await?)
    }

    /// Rebuilds the indexes that [`Tx::bulk_load_begin`] dropped from `table`, then refreshes its statistics.
    pub async fn rebuild_indexes(&mut self, table: &str, definitions: Vec<String>) -> Result<(), StoreError> {
        if definitions.is_empty() {
            return Ok(());
        }
        for def in definitions {
            self.execute(&def, vec![]).await?;
        }
        if self.engine() == Engine::Sqlite {
            self.execute(&format!("PRAGMA cache_size = -{SQLITE_CACHE_KIB}"), vec![]).await?;
        }
        // Fresh statistics, so that the planners pick the indexes meant for each list.
        self.execute(&format!("ANALYZE {table}"), vec![]).await?;
        Ok(())
    }

    query_methods!(mut);
}

/// Loads smaller than this keep their indexes: rebuilding would cost more than it saves.
const BULK_LOAD_MIN_ROWS: usize = 50_000;
/// SQLite page cache per connection, in KiB; bulk loads borrow a larger one for their transaction.
const SQLITE_CACHE_KIB: u32 = 8192;

/// How much of the SQLite file is read through a memory map (SQLite caps it at its own limit).
const SQLITE_MMAP_BYTES: u64 = 8 << 30;

/// Pages of write-ahead log past which the committing writer checkpoints itself (SQLite's default
/// is 1,000): only if the background checkpointer falls behind.
const WAL_BACKSTOP_PAGES: u32 = 20_000;

/// How often the background checkpointer copies the log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies SQLite's write-ahead log into the database file from a connection of its own, every
/// [`CHECKPOINT_EVERY`], in PASSIVE mode (it never waits for, nor blocks, readers or writers).
/// Left to SQLite, the checkpoint runs inside the commit that crosses 1,000 pages, with our write
/// lock held: every write queued behind it waited for the database file's flush (issue 19's
/// half-second stalls after 10,000 bindings). Ends with the last handle of the database.
fn checkpoint_in_background(pool: SqlitePool, alive: std::sync::Weak<Mutex<()>>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + CHECKPOINT_EVERY, CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if alive.strong_count() == 0 || pool.is_closed() {
                return;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                if pool.is_closed() {
                    return;
                }
                tracing::debug!("background checkpoint: {e}");
            }
        }
    });
}
const BULK_LOAD_CACHE_KIB: u32 = 131_072;

#[cfg(test)]
mod tests {
    use super::sqlite_sql;

    /// A write transaction that reads before it writes waits for a write lock held elsewhere
    /// (here by a raw connection, as a dropped transaction's connection holds it until its
    /// rollback runs) instead of failing with "database is locked".
    #[tokio::test]
    async fn a_write_transaction_waits_for_the_write_lock() {
        use sqlx::Connection;
        let path = std::env::temp_dir().join(format!("huanxin-lock-{}.db", std::process::id()));
        let url = path.to_string_lossy().to_string();
        let db = super::Db::connect(&url).await.unwrap();
        db.execute("CREATE TABLE t (v INTEGER)", vec![]).await.unwrap();
        let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{url}")).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)").execute(&mut other).await.unwrap();
        let writer = {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin().await?;
                let n = tx.scalar("SELECT COUNT(*) FROM t", vec![]).await?;
                tx.execute("INSERT INTO t VALUES ($1)", crate::args![n + 10]).await?;
                tx.commit().await
            })
        };
        // Long enough for the writer to reach its write while the lock is held.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
        writer.await.unwrap().unwrap();
        assert_eq!(db.scalar("SELECT MAX(v) FROM t", vec![]).await.unwrap(), 10);
        db.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{url}{suffix}"));
        }
    }

    fn temp_url(name: &str) -> String {
        std::env::temp_dir().join(format!("huanxin-{name}-{}-{}.db", std::process::id(), uuid_like())).to_string_lossy().to_string()
    }

    fn uuid_like() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
    }

    /// A COMMIT that fails with its transaction already gone (as SQLite ends one itself on a full
    /// disk) once left the pooled connection believing it was inside a transaction: every later
    /// write on it failed ("begin_with at non-zero transaction depth") until a restart.
    #[tokio::test]
    async fn writes_go_on_after_a_failed_commit() {
        let url = temp_url("commit");
        let db = super::Db::connect(&url).await.unwrap();
        db.execute("CREATE TABLE t (v INTEGER)", vec![]).await.unwrap();
        for _ in 0..3 {
            let mut tx = db.begin().await.unwrap();
            tx.execute("INSERT INTO t VALUES (1)", vec![]).await.unwrap();
            tx.execute("ROLLBACK", vec![]).await.unwrap();
            assert!(tx.commit().await.is_err(), "nothing to commit");
        }
        for i in 0..20 {
            let mut tx = db.begin().await.unwrap_or_else(|e| panic!("write {i} after a failed commit: {e}"));
            tx.execute("INSERT INTO t VALUES ($1)", crate::args![i]).await.unwrap();
            tx.commit().await.unwrap();
        }
        assert_eq!(db.scalar("SELECT COUNT(*) FROM t", vec![]).await.unwrap(), 20, "none of the failed ones was kept");
        db.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{url}{suffix}"));
        }
    }

    /// A full disk is a `DiskFull` error, kept for the health check until a write succeeds again.
    /// (The database's page limit stands in for the disk: SQLite answers SQLITE_FULL either way.)
    #[tokio::test]
    async fn a_full_disk_is_reported_until_writes_succeed_again() {
        let url = temp_url("full");
        let db = super::Db::connect(&url).await.unwrap();
        db.execute("CREATE TABLE t (v BLOB)", vec![]).await.unwrap();
        {
            let mut tx = db.begin().await.unwrap();
            let pages = tx.scalar("PRAGMA page_count", vec![]).await.unwrap();
            tx.execute(&format!("PRAGMA max_page_count = {pages}"), vec![]).await.unwrap();
            let r = tx.execute("INSERT INTO t VALUES (zeroblob(1000000))", vec![]).await;
            assert!(matches!(r, Err(crate::StoreError::DiskFull(_))), "{r:?}");
            tx.execute("PRAGMA max_page_count = 1073741823", vec![]).await.unwrap();
        }
        assert!(db.write_failure().is_some(), "the health check sees it");
        let mut tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO t VALUES (zeroblob(10))", vec![]).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(db.write_failure(), None, "space is back: writes go on and the report clears");
        assert_eq!(db.scalar("SELECT COUNT(*) FROM t", vec![]).await.unwrap(), 1);
        db.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{url}{suffix}"));
        }
    }

    #[test]
    fn ordered_placeholders_become_positional() {
        assert_eq!(sqlite_sql("INSERT INTO t VALUES ($1,$2),($3,$4)"), "INSERT INTO t VALUES (?,?),(?,?)");
        // Repeated or out-of-order numbers keep their names.
        assert_eq!(sqlite_sql("SELECT $1 WHERE a = $1"), "SELECT $1 WHERE a = $1");
        assert_eq!(sqlite_sql("SELECT $2, $1"), "SELECT $2, $1");
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
        assert_eq!(sqlite_sql("SELECT $10"), "SELECT $10");
    }

    #[test]
    #[allow(clippy::useless_vec)] // args! builds the Vec that csv_line takes.
    fn copy_lines_quote_text_and_leave_nulls_empty() {
        let mut buf = Vec::new();
        super::csv_line(&mut buf, &crate::args![7, 1.5, true, "a \"b\", c", Option::<String>::None, ""]);
        assert_eq!(String::from_utf8(buf).unwrap(), "7,1.5,t,\"a \"\"b\"\", c\",,\"\"\n");
    }
}
