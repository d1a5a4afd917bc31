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
}

enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A write transaction; dropped without [`Tx::commit`], it rolls back, so nothing is half-written.
pub struct Tx {
    inner: TxInner,
    _guard: Option<OwnedMutexGuard<()>>,
}

/// Methods shared by [`Db`] (autocommit) and [`Tx`], written once; `mut` for the transaction.
macro_rules! query_methods {
    ($($m:tt)?) => {
        /// All rows of a query.
        pub async fn fetch_all<T: Row>(&$($m)? self, sql: &str, args: Vec<Arg>) -> Result<Vec<T>, StoreError> {
            Ok(match self.inner_ref() {
                Either::S(e) => {
                    let sql = sqlite_sql(sql);
                    bind_all!(sqlx::query_as::<Sqlite, T>(&sql), args).fetch_all(e).await?
                }
                Either::P(e) => bind_all!(sqlx::query_as::<Postgres, T>(sql), args).fetch_all(e).await?,
            })
        }

        /// At most one row.
        pub async fn fetch_optional<T: Row>(&$($m)? self, sql: &str, args: Vec<Arg>) -> Result<Option<T>, StoreError> {
            Ok(match self.inner_ref() {
                Either::S(e) => {
                    let sql = sqlite_sql(sql);
                    bind_all!(sqlx::query_as::<Sqlite, T>(&sql), args).fetch_optional(e).await?
                }
                Either::P(e) => bind_all!(sqlx::query_as::<Postgres, T>(sql), args).fetch_optional(e).await?,
            })
        }

        /// Exactly one row, or [`StoreError::NotFound`].
        pub async fn fetch_one<T: Row>(&$($m)? self, sql: &str, args: Vec<Arg>) -> Result<T, StoreError> {
            self.fetch_optional(sql, args).await?.ok_or(StoreError::NotFound)
        }

        /// A single integer (a count, an id); no row or NULL reads as 0.
        pub async fn scalar(&$($m)? self, sql: &str, args: Vec<Arg>) -> Result<i64, StoreError> {
            let v: Option<Option<i64>> = match self.inner_ref() {
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
            Ok(match self.inner_ref() {
                Either::S(e) => {
                    let sql = sqlite_sql(sql);
                    bind_all!(sqlx::query::<Sqlite>(&sql), args).execute(e).await?.rows_affected()
                }
                Either::P(e) => bind_all!(sqlx::query::<Postgres>(sql), args).execute(e).await?.rows_affected(),
            })
        }

        /// Inserts many rows in few statements: `columns` names the columns, each row gives their values.
        pub async fn insert_many(&$($m)? self, table: &str, columns: &[&str], rows: Vec<Vec<Arg>>) -> Result<u64, StoreError> {
            let mut done = 0;
            for (sql, args) in multi_row_inserts(table, columns, rows) {
                done += self.execute(&sql, args).await?;
            }
            Ok(done)
        }
    };
}

/// Splits rows into multi-row INSERT statements that stay under both engines' parameter limits.
fn multi_row_inserts(table: &str, columns: &[&str], rows: Vec<Vec<Arg>>) -> Vec<(String, Vec<Arg>)> {
    let per_row = columns.len().max(1);
    let chunk = (30_000 / per_row).clamp(1, 1000);
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<Vec<Arg>> = rows.by_ref().take(chunk).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for i in 0..batch.len() {
            sql.push_str(if i > 0 { ",(" } else { "(" });
            for c in 0..per_row {
                n += 1;
                sql.push_str(&format!("{}${n}", if c > 0 { "," } else { "" }));
            }
            sql.push(')');
        }
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
                .busy_timeout(Duration::from_secs(10))
                .pragma("cache_size", "-8192")
                .log_slow_statements(tracing::log::LevelFilter::Off, Duration::from_secs(60));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Config(format!("cannot open SQLite file {path}: {e}")))?;
            Pool::Sqlite(pool)
        };
        Ok(Db { pool, write_lock: Arc::new(Mutex::new(())) })
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
            Pool::Sqlite(p) => {
                let guard = self.write_lock.clone().lock_owned().await;
                Tx { inner: TxInner::Sqlite(p.begin().await?), _guard: Some(guard) }
            }
            Pool::Postgres(p) => Tx { inner: TxInner::Postgres(p.begin().await?), _guard: None },
        })
    }

    /// Starts a read transaction that sees one consistent snapshot (for backups and reports).
    pub async fn begin_snapshot(&self) -> Result<Tx, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => Tx { inner: TxInner::Sqlite(p.begin().await?), _guard: None },
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
                Tx { inner: TxInner::Postgres(tx), _guard: None }
            }
        })
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    fn inner_ref(&self) -> Either<&SqlitePool, &PgPool> {
        match &self.pool {
            Pool::Sqlite(p) => Either::S(p),
            Pool::Postgres(p) => Either::P(p),
        }
    }

    /// Runs several statements separated by `;` (migrations).
    pub(crate) async fn raw_batch(tx: &mut Tx, sql: &str) -> Result<(), StoreError> {
        match &mut tx.inner {
            TxInner::Sqlite(t) => {
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
    /// Makes the transaction's changes permanent.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        match self.inner {
            TxInner::Sqlite(_) => Engine::Sqlite,
            TxInner::Postgres(_) => Engine::Postgres,
        }
    }

    fn inner_ref(&mut self) -> Either<&mut sqlx::SqliteConnection, &mut sqlx::PgConnection> {
        match &mut self.inner {
            TxInner::Sqlite(t) => Either::S(&mut **t),
            TxInner::Postgres(t) => Either::P(&mut **t),
        }
    }

    query_methods!(mut);
}

#[cfg(test)]
mod tests {
    use super::sqlite_sql;

    #[test]
    fn ordered_placeholders_become_positional() {
        assert_eq!(sqlite_sql("INSERT INTO t VALUES ($1,$2),($3,$4)"), "INSERT INTO t VALUES (?,?),(?,?)");
        // Repeated or out-of-order numbers keep their names.
        assert_eq!(sqlite_sql("SELECT $1 WHERE a = $1"), "SELECT $1 WHERE a = $1");
        assert_eq!(sqlite_sql("SELECT $2, $1"), "SELECT $2, $1");
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
        assert_eq!(sqlite_sql("SELECT $10"), "SELECT $10");
    }
}
