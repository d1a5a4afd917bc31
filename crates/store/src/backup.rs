//! Consistent online backups: SQLite's `VACUUM INTO` (a snapshot taken while the server runs) and,
//! for PostgreSQL, the standard `pg_dump` / `pg_restore` tools in custom format.

use crate::db::{Db, Engine};
use crate::error::StoreError;
use std::path::Path;
use std::process::Command;

impl Db {
    /// Writes a consistent copy of the database to `file` (which must not exist yet).
    pub async fn backup(&self, url: &str, file: &Path) -> Result<(), StoreError> {
        if file.exists() {
            return Err(StoreError::Backup(format!("{} exists; choose a new file name", file.display())));
        }
        match self.engine() {
            Engine::Sqlite => {
                let target = file.to_string_lossy().replace('\'', "''");
                self.execute(&format!("VACUUM INTO '{target}'"), vec![]).await?;
                Ok(())
            }
            Engine::Postgres => {
                let out = Command::new("pg_dump")
                    .args(["--format=custom", "--no-owner", "--file"])
                    .arg(file)
                    .arg(url)
                    .output()
                    .map_err(|e| StoreError::Backup(format!("cannot run pg_dump (install postgresql-client): {e}")))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(StoreError::Backup(String::from_utf8_lossy(&out.stderr).into_owned()))
                }
            }
        }
    }
}

/// Restores a backup into the database at `url`. For SQLite the server must be stopped; the
/// current file is kept beside it as `.before-restore`. For PostgreSQL objects are replaced.
pub fn restore(url: &str, file: &Path) -> Result<(), StoreError> {
    if !file.exists() {
        return Err(StoreError::Backup(format!("{} does not exist", file.display())));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let out = Command::new("pg_restore")
            .args(["--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname"])
            .arg(url)
            .arg(file)
            .output()
            .map_err(|e| StoreError::Backup(format!("cannot run pg_restore (install postgresql-client): {e}")))?;
        if !out.status.success() {
            return Err(StoreError::Backup(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        return Ok(());
    }
    let path = Path::new(url.strip_prefix("sqlite://").unwrap_or(url));
    let head = std::fs::read(file).map_err(|e| StoreError::Backup(e.to_string()))?;
    if !head.starts_with(b"SQLite format 3\0") {
        return Err(StoreError::Backup(format!("{} is not a SQLite backup", file.display())));
    }
    if path.exists() {
        let keep = path.with_extension("db.before-restore");
        std::fs::rename(path, &keep).map_err(|e| StoreError::Backup(e.to_string()))?;
    }
    for ext in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(path.with_extension(ext));
    }
    std::fs::copy(file, path).map_err(|e| StoreError::Backup(e.to_string()))?;
    Ok(())
}
