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

/// The lock a server holds on its SQLite file while it serves: a second server, or a restore, on
/// the same file is refused while it is held (SQLite is one server's database).
pub struct ServerLock {
    _file: std::fs::File,
}

/// The lock file beside a SQLite database.
pub fn lock_path(db_path: &Path) -> std::path::PathBuf {
    let mut p = db_path.as_os_str().to_owned();
    p.push(".lock");
    std::path::PathBuf::from(p)
}

/// Takes the serving lock of the SQLite database at `url` (nothing for PostgreSQL, where several
/// servers may share the database).
pub fn lock_database(url: &str) -> Result<Option<ServerLock>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(None);
    }
    let path = Path::new(url.strip_prefix("sqlite://").unwrap_or(url));
    let lock = lock_path(path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|e| StoreError::Config(format!("cannot open the lock file {}: {e}", lock.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(ServerLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Config(format!(
            "another huanxin process is using {} (it holds {}): SQLite is one server's database; stop it first, or use PostgreSQL for several servers",
            path.display(),
            lock.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Config(format!("cannot lock {}: {e}", lock.display()))),
    }
}

/// What a restore did: where the database it replaced was kept, and what was checked.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The database as it was before (with its write-ahead log), for SQLite.
    pub kept: Option<std::path::PathBuf>,
    pub ledger_entries: i64,
    pub decisions_checked: usize,
}

/// Restores a backup into the database at `url`. On SQLite: refused while a server holds the
/// database; the backup is first copied beside the database and its ledger and ballot chains
/// verified (a broken chain refuses the restore and changes nothing); then the current database is
/// kept, with its write-ahead log, as `huanxin.db.before-restore-<time>`, and the copy takes its
/// place. On PostgreSQL, `pg_restore` replaces the objects in one transaction.
pub async fn restore(url: &str, file: &Path) -> Result<Restored, StoreError> {
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
        return Ok(Restored { kept: None, ledger_entries: 0, decisions_checked: 0 });
    }
    let path = Path::new(url.strip_prefix("sqlite://").unwrap_or(url)).to_path_buf();
    let _lock = lock_database(url)?.ok_or_else(|| StoreError::Backup("no lock for a SQLite database".into()))?;
    let mut head = [0u8; 16];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(file).map_err(|e| StoreError::Backup(e.to_string()))?;
        let _ = f.read(&mut head).map_err(|e| StoreError::Backup(e.to_string()))?;
    }
    if &head != b"SQLite format 3\0" {
        return Err(StoreError::Backup(format!("{} is not a SQLite backup", file.display())));
    }
    let mut wal = file.as_os_str().to_owned();
    wal.push("-wal");
    if std::fs::metadata(std::path::PathBuf::from(wal)).is_ok_and(|m| m.len() > 0) {
        return Err(StoreError::Backup(format!(
            "{} has a write-ahead log beside it: it is a database in use, not a backup (make one with `huanxin backup`)",
            file.display()
        )));
    }
    let sibling = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        std::path::PathBuf::from(p)
    };
    // The copy is checked where it will live, before anything of the current database moves.
    let staged = sibling(".restoring");
    for s in ["", "-wal", "-shm"] {
        let mut p = staged.as_os_str().to_owned();
        p.push(s);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
    std::fs::copy(file, &staged).map_err(|e| StoreError::Backup(format!("cannot copy the backup: {e}")))?;
    let checked = verify_copy(&staged).await;
    let (ledger_entries, decisions_checked) = match checked {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
    };
    let kept = if path.exists() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let keep = sibling(&format!(".before-restore-{stamp}"));
        std::fs::copy(&path, &keep).map_err(|e| StoreError::Backup(format!("cannot keep the current database: {e}")))?;
        for s in ["-wal", "-shm"] {
            let current = sibling(s);
            if current.exists() {
                let mut k = keep.as_os_str().to_owned();
                k.push(s);
                std::fs::copy(&current, std::path::PathBuf::from(k)).map_err(|e| StoreError::Backup(format!("cannot keep {s}: {e}")))?;
            }
        }
        Some(keep)
    } else {
        None
    };
    for s in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(sibling(s));
    }
    std::fs::rename(&staged, &path).map_err(|e| StoreError::Backup(format!("cannot put the restored copy in place: {e}")))?;
    Ok(Restored { kept, ledger_entries, decisions_checked })
}

/// Opens the staged copy and walks its chains: the ledger and every decision's ballots.
async fn verify_copy(staged: &Path) -> Result<(i64, usize), StoreError> {
    let copy = Db::connect(&staged.to_string_lossy()).await?;
    let result = async {
        let ledger = if copy.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'ledger_entries'", vec![]).await? > 0 {
            let check = copy.verify_ledger().await?;
            if let Some(b) = check.broken_at {
                return Err(StoreError::Backup(format!(
                    "the backup's ledger is broken at entry {}: {}; nothing was restored",
                    b.seq, b.reason
                )));
            }
            check.entries
        } else {
            0
        };
        let ids = if copy.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'decisions'", vec![]).await? > 0 {
            copy.decision_ids().await?
        } else {
            Vec::new()
        };
        for id in &ids {
            let v = copy.verify_ballots(crate::reach::DecisionInScope::trusted(*id)).await?;
            if let Some(b) = v.broken_at {
                return Err(StoreError::Backup(format!(
                    "the backup's ballots of decision {id} are broken at ballot {}: {}; nothing was restored",
                    b.seq, b.reason
                )));
            }
        }
        Ok((ledger, ids.len()))
    }
    .await;
    copy.close().await;
    result
}
