//! Published heads of the hash chains. Once a day the server writes the end of the funds ledger and
//! of every ballot chain, each signed with its own key, to `heads/<date>.json` under the data folder;
//! copies are meant to leave the server (an auditor's download, the head posted with a vote's
//! result). A chain whose tail was deleted and whose head was rewritten to match passes its own
//! walk, but no longer matches a head published before: every verification checks them all.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use huanxin_domain::chain::{self, Head, PublishedHeads};
use huanxin_store::Db;
use std::path::{Path, PathBuf};

/// Where the published heads and the signing key live.
pub fn heads_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("heads")
}

fn io(what: &str, path: &Path, e: std::io::Error) -> ApiError {
    ApiError::Internal(format!("{what} {}: {e}", path.display()))
}

/// The server's signing key: 32 random bytes in `heads/.key`, made on first use and readable by
/// the server's own user only.
fn signing_key(dir: &Path) -> Result<Vec<u8>, ApiError> {
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

/// Writes the heads of every chain for `date` (China's day) unless that day's file exists; returns
/// the file written. Written beside and renamed, so a reader never sees half a file.
pub async fn publish(db: &Db, data_dir: &Path, date: chrono::NaiveDate) -> Result<Option<PathBuf>, ApiError> {
    let dir = heads_dir(data_dir);
    let path = dir.join(format!("{date}.json"));
    if path.exists() {
        return Ok(None);
    }
    let key = signing_key(&dir)?;
    let day = date.to_string();
    let heads = db.chain_ends().await?.into_iter().map(|(chain, n, hash)| Head::signed(&key, &day, &chain, n, &hash)).collect();
    let text = serde_json::to_vec_pretty(&PublishedHeads { date: day, heads }).map_err(|e| ApiError::Internal(e.to_string()))?;
    let staged = dir.join(format!(".{date}.json.part"));
    std::fs::write(&staged, text).map_err(|e| io("cannot write", &staged, e))?;
    std::fs::rename(&staged, &path).map_err(|e| io("cannot move into place", &path, e))?;
    Ok(Some(path))
}

/// Every published day's heads, oldest first; a file that cannot be read is a problem to report.
fn published(data_dir: &Path) -> (Vec<PublishedHeads>, Vec<Discrepancy>) {
    let dir = heads_dir(data_dir);
    let mut names: Vec<PathBuf> =
        std::fs::read_dir(&dir).map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    names.retain(|p| p.extension().is_some_and(|x| x == "json") && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')));
    names.sort();
    let (mut days, mut problems) = (Vec::new(), Vec::new());
    for path in names {
        match std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<PublishedHeads>(&b).ok()) {
            Some(day) => days.push(day),
            None => problems.push(Discrepancy {
                date: path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
                chain: String::new(),
                records: 0,
                problem: format!("the published heads in {} cannot be read", path.display()),
            }),
        }
    }
    (days, problems)
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
pub async fn check_published(db: &Db, data_dir: &Path, wanted: impl Fn(&str) -> bool) -> Result<Vec<Discrepancy>, ApiError> {
    let (days, mut problems) = published(data_dir);
    if days.is_empty() {
        return Ok(problems);
    }
    let key = signing_key(&heads_dir(data_dir))?;
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
    let (days, _) = published(&st.config.data_dir);
    let Some(day) = days.into_iter().last() else {
        return Ok(Json(PublishedHeads { date: String::new(), heads: Vec::new() }));
    };
    let mut heads = Vec::new();
    for head in day.heads {
        if st.db.chain_in_scope(&cu.scope, &head.chain).await? {
            heads.push(head);
        }
    }
    Ok(Json(PublishedHeads { date: day.date, heads }))
}
