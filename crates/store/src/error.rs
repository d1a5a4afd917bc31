//! Storage errors; unique-key and foreign-key violations are told apart so HTTP can answer 409/422.

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist, or lies outside the caller's scope (the two are not told apart).
    #[error("not found")]
    NotFound,
    /// A unique key would be duplicated; the message names it.
    #[error("already exists: {0}")]
    Duplicate(String),
    /// A referenced row does not exist.
    #[error("refers to something that does not exist: {0}")]
    MissingReference(String),
    /// The step is not allowed in the current state; the reason says why.
    #[error("{0}")]
    Conflict(huanxin_domain::Reason),
    /// The input breaks a rule that needs the database to check.
    #[error("{0}")]
    Invalid(huanxin_domain::ValidationErrors),
    /// The database URL or file cannot be used.
    #[error("database configuration: {0}")]
    Config(String),
    /// A backup file cannot be read or written.
    #[error("backup: {0}")]
    Backup(String),
    /// The disk is full or cannot be written: nothing of the change was kept.
    #[error("the disk is full or cannot be written; nothing of this change was saved: {0}")]
    DiskFull(String),
    /// The database is held by someone else (another process's write lock, no free connection
    /// within the wait): nothing of the change was written, and trying again later may succeed.
    #[error("the database is busy; nothing of this change was saved: {0}")]
    Busy(String),
    /// The file store (a folder or an S3-compatible store) cannot be reached or written: nothing
    /// of the change was saved.
    #[error("{0}")]
    FileStore(String),
    /// Anything else from the driver.
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

/// SQLite's `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6), with their extended codes; PostgreSQL's
/// `55P03` (lock not available) and `53300` (too many connections).
fn is_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    let code = db.code().unwrap_or_default();
    if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
        code == "55P03" || code == "53300"
    } else {
        code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
    }
}

/// SQLite's result codes for a full disk (13) and an I/O error (10, with its extended codes);
/// PostgreSQL's SQLSTATE class 53 (insufficient resources) and `58030` (I/O error).
fn is_disk_failure(db: &dyn sqlx::error::DatabaseError) -> bool {
    let code = db.code().unwrap_or_default();
    if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
        code.starts_with("53") || code == "58030"
    } else {
        code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 10 | 13))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut => StoreError::Busy(e.to_string()),
            sqlx::Error::Database(db) => {
                let msg = db.message().to_string();
                if is_busy(db.as_ref()) {
                    StoreError::Busy(msg)
                } else if is_disk_failure(db.as_ref()) {
                    StoreError::DiskFull(msg)
                } else if db.is_unique_violation() {
                    StoreError::Duplicate(msg)
                } else if db.is_foreign_key_violation() {
                    StoreError::MissingReference(msg)
                } else {
                    StoreError::Database(e)
                }
            }
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// The same failure told to another caller: busy and disk failures keep their kind (so each
    /// caller hears 503 or 507), anything else becomes its message.
    pub(crate) fn again(&self) -> StoreError {
        match self {
            StoreError::Busy(m) => StoreError::Busy(m.clone()),
            StoreError::DiskFull(m) => StoreError::DiskFull(m.clone()),
            other => StoreError::Config(other.to_string()),
        }
    }
}

impl From<huanxin_domain::ValidationErrors> for StoreError {
    fn from(e: huanxin_domain::ValidationErrors) -> Self {
        StoreError::Invalid(e)
    }
}
