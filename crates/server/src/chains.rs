//! Published heads of the hash chains. Once a day the server writes the end of the funds ledger and
//! of every ballot chain, each signed, to `heads/<date>.json`: under the data folder, or in the
//! object store when files go to S3 (so every server of a cluster reads the same heads). Copies
//! are meant to leave the server (an auditor's download, the head posted with a vote's result).
//! A chain whose tail was deleted and whose head was rewritten to match passes its own walk, but
//! no longer matches a head published before: every verification checks them all.
//!
//! The signing key is `chain_key` when set (a cluster's servers share it), else `heads/.key` in
//! the data folder, made on first use. It is never kept beside the heads in the object store:
//! whoever could write there could then sign heads of their own.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::{AppState, Config};
use axum::extract::State;
use axum::{Extension, Json};
use futures_util::StreamExt;
use huanxin_domain::chain::{self, Head, PublishedHeads};
use huanxin_store::files::FileStore;
use huanxin_store::Db;
use object_store::{path::Path as ObjectPath, ObjectStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The local folder of the published heads and of the key made on first use.
pub fn heads_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("heads")
}

fn io(what: &str, path: &Path, e: std::io::Error) -> ApiError {
    ApiError::Internal(format!("{what} {}: {e}", path.display()))
}

fn stored(e: object_store::Error) -> ApiError {
    ApiError::from(huanxin_store::StoreError::FileStore(e.to_string()))
}

/// The server's own signing key: 32 random bytes in `heads/.key`, made on first use and readable
/// by the server's own user only.
fn local_key(dir: &Path) -> Result<Vec<u8>, ApiError> {
    let path = dir.join(".key");
    match std::fs::read(&path) {
        Ok(key) if key.len() >= 32 => return Ok(key),
        Ok(_) => return Err(ApiError::Internal(format!("{} is shorter than 32 bytes", path.display()))),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io("cannot read", &path, e)),
        Err(_) => {}
    }
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
    let mut key = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(|e| io("cannot create", &path, e))?;
    std::io::Write::write_all(&mut file, &key).map_err(|e| io("cannot write", &path, e))?;
    Ok(key)
}

/// Where the published heads are kept, and how they are signed.
struct Heads {
    store: Arc<dyn ObjectStore>,
    /// Where, for messages.
    shown: String,
    /// `chain_key`, or the folder of the key made on first use.
    key: Result<Vec<u8>, PathBuf>,
}

impl Heads {
    /// The heads of this deployment: in the object store's `heads/` when files go to S3, else in
    /// `heads/` under the data folder.
    fn of(db: &Db, config: &Config) -> Result<Heads, ApiError> {
        let shared = config.chain_key.trim();
        let key = match shared.len() {
            0 => Err(heads_dir(&config.data_dir)),
            n if n < 32 => return Err(ApiError::Internal("chain_key must be at least 32 characters".into())),
            _ => Ok(shared.as_bytes().to_vec()),
        };
        if let (FileStore::Objects { store, shown, .. }, "s3") = (db.files(), config.file_store.trim()) {
            let store: Arc<dyn ObjectStore> = Arc::new(object_store::prefix::PrefixStore::new(Arc::clone(store), "heads"));
            return Ok(Heads { store, shown: format!("{shown}/heads"), key });
        }
        let dir = heads_dir(&config.data_dir);
        std::fs::create_dir_all(&dir).map_err(|e| io("cannot create", &dir, e))?;
        let store =
            object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(|e| io("cannot use", &dir, std::io::Error::other(e)))?;
        Ok(Heads { store: Arc::new(store), shown: dir.display().to_string(), key })
    }

    fn key(&self) -> Result<Vec<u8>, ApiError> {
        match &self.key {
            Ok(key) => Ok(key.clone()),
            Err(dir) => local_key(dir),
        }
    }

    /// Every published day's heads, oldest first; a file that cannot be read is a problem to report.
    async fn published(&self) -> Result<(Vec<PublishedHeads>, Vec<Discrepancy>), ApiError> {
        let mut names: Vec<ObjectPath> = Vec::new();
        let mut listing = self.store.list(None);
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(stored)?;
            if meta.location.filename().is_some_and(|n| n.ends_with(".json") && !n.starts_with('.')) {
                names.push(meta.location);
            }
        }
        names.sort();
        let (mut days, mut problems) = (Vec::new(), Vec::new());
        for name in names {
            let text = match self.store.get(&name).await {
                Ok(got) => got.bytes().await.map_err(stored)?,
                Err(e) => return Err(stored(e)),
            };
            match serde_json::from_slice::<PublishedHeads>(&text) {
                Ok(day) => days.push(day),
                Err(_) => problems.push(Discrepancy {
                    date: name.filename().unwrap_or_default().trim_end_matches(".json").to_string(),
                    chain: String::new(),
                    records: 0,
                    problem: format!("the published heads in {}/{name} cannot be read", self.shown),
                }),
            }
        }
        Ok((days, problems))
    }

    /// The newest published day's heads, when its file can be read and holds the day its name
    /// says; only that one file is read. Only `YYYY-MM-DD.json` at the top counts (a folder of
    /// copies would sort after every day).
    async fn newest(&self) -> Result<Option<PublishedHeads>, ApiError> {
        let mut newest: Option<ObjectPath> = None;
        let mut listing = self.store.list(None);
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(stored)?;
            let is_day = meta.location.parts().count() == 1
                && meta
                    .location
                    .filename()
                    .and_then(|n| n.strip_suffix(".json"))
                    .is_some_and(|d| d.len() == 10 && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
            if is_day && newest.as_ref().is_none_or(|n| meta.location > *n) {
                newest = Some(meta.location);
            }
        }
        let Some(name) = newest else { return Ok(None) };
        let named = name.filename().unwrap_or_default().trim_end_matches(".json").to_string();
        let text = self.store.get(&name).await.map_err(stored)?.bytes().await.map_err(stored)?;
        Ok(serde_json::from_slice::<PublishedHeads>(&text).ok().filter(|day| day.date == named))
    }
}

/// Writes the heads of every chain for `date` (China's day) unless that day's are published;
/// returns where they were written. Each is written whole or not at all (a local file is written
/// beside and renamed; an object appears whole).
pub async fn publish(db: &Db, config: &Config, date: chrono::NaiveDate) -> Result<Option<String>, ApiError> {
    let heads = Heads::of(db, config)?;
    let name = ObjectPath::from(format!("{date}.json"));
    match heads.store.head(&name).await {
        Ok(_) => return Ok(None),
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(stored(e)),
    }
    let key = heads.key()?;
    let day = date.to_string();
    let signed = db.chain_ends().await?.into_iter().map(|(chain, n, hash)| Head::signed(&key, &day, &chain, n, &hash)).collect();
    let text = serde_json::to_vec_pretty(&PublishedHeads { date: day, heads: signed }).map_err(|e| ApiError::Internal(e.to_string()))?;
    heads.store.put(&name, text.into()).await.map_err(stored)?;
    Ok(Some(format!("{}/{name}", heads.shown)))
}

/// Where a chain no longer agrees with a head published earlier.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Discrepancy {
    pub date: String,
    pub chain: String,
    pub records: i64,
    pub problem: String,
}

/// Checks the chains that `wanted` names against every head published for them, and says what
/// no longer agrees (a changed or foreign signature, a shortened chain, a rewritten record).
pub async fn check_published(db: &Db, config: &Config, wanted: impl Fn(&str) -> bool) -> Result<Vec<Discrepancy>, ApiError> {
    let heads = Heads::of(db, config)?;
    let (days, mut problems) = heads.published().await?;
    if days.is_empty() {
        return Ok(problems);
    }
    let key = heads.key()?;
    for day in days {
        for head in day.heads.iter().filter(|h| wanted(&h.chain)) {
            let mut found = |problem: String| {
                problems.push(Discrepancy { date: day.date.clone(), chain: head.chain.clone(), records: head.records, problem })
            };
            if !head.signature_holds(&key, &day.date) {
                found("the published head's signature does not hold: the file was changed, or signed by another key".into());
                continue;
            }
            let (reach, hash) = db.chain_record(&head.chain, head.records).await?;
            if let Err(problem) = chain::check_head(head, reach, hash.as_deref()) {
                found(format!("against the heads published on {}: {problem}", day.date));
            }
        }
    }
    Ok(problems)
}

/// The latest published heads of the chains the caller may see (the ledger; the ballots of
/// decisions on estates in the caller's scope), each with its signature.
#[utoipa::path(get, path = "/api/v1/chain-heads", tag = "funds",
    responses((status = 200, description = "date and heads (chain, records, hash, signature); heads: [] before the first day is published")))]
pub async fn latest(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<PublishedHeads>, ApiError> {
    // A newest file that cannot be read shows no heads; verifications report it.
    let published = Heads::of(&st.db, &st.config)?;
    let Some(day) = published.newest().await? else {
        return Ok(Json(PublishedHeads { date: String::new(), heads: Vec::new() }));
    };
    let key = published.key()?;
    let mut heads = Vec::new();
    // Only heads whose signature holds: a changed one is for the verification to report.
    for head in day.heads.into_iter().filter(|h| h.signature_holds(&key, &day.date)) {
        if st.db.chain_in_scope(&cu.scope, &head.chain).await? {
            heads.push(head);
        }
    }
    Ok(Json(PublishedHeads { date: day.date, heads }))
}
