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
    /// The step is not allowed in the current state; the message says why.
    #[error("{0}")]
    Conflict(String),
    /// The input breaks a rule that needs the database to check.
    #[error("{0}")]
    Invalid(huanxin_domain::ValidationErrors),
    /// The database URL or file cannot be used.
    #[error("database configuration: {0}")]
    Config(String),
    /// A backup file cannot be read or written.
    #[error("backup: {0}")]
    Backup(String),
    /// Anything else from the driver.
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) => {
                let msg = db.message().to_string();
                if db.is_unique_violation() {
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

impl From<huanxin_domain::ValidationErrors> for StoreError {
    fn from(e: huanxin_domain::ValidationErrors) -> Self {
        StoreError::Invalid(e)
    }
}
