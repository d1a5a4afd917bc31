//! Where files' contents live (issue 18 §2, docs/deploy.md): archive documents, photos, camera
//! snapshots. Each file is kept once by its SHA-256. Its row in `files` (type, size, where) is
//! written in the transaction that uses it. Its content goes, before that transaction writes the
//! row, to a local folder (the default), to an S3-compatible object store (a cluster), or, for
//! installs from before this, stays in the row's `content` until `huanxin files migrate` moves it
//! out. So no row points to a missing file. A rolled-back transaction may leave an object no row
//! names, which costs space and nothing else until `huanxin files sweep` removes it.
//!
//! Files come in as an [`Upload`]: hashed while they arrive, kept in memory when small and in an
//! unlinked temporary file when large, and streamed from there to the store, so a drawing of
//! hundreds of MB is never whole in a server's memory.

use crate::{Db, StoreError, Tx};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};
use std::ops::Range;
use std::sync::Arc;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// How many of a file's first bytes are kept in memory to check what it is.
pub const HEAD_BYTES: usize = 256 * 1024;
/// Files up to this size are received in memory; larger ones go to a temporary file.
const IN_MEMORY_BYTES: usize = 1 << 20;

/// A file as it came in: its SHA-256 and size, its first bytes (to check its type), and its content.
#[derive(Clone, Debug)]
pub struct Upload {
    pub sha256: String,
    pub size: u64,
    /// The first [`HEAD_BYTES`] bytes (all of a smaller file).
    pub head: Bytes,
    body: UploadBody,
}

#[derive(Clone, Debug)]
enum UploadBody {
    Memory(Bytes),
    /// An unlinked temporary file: gone with its last handle, even if the server is killed.
    Spooled(Arc<std::fs::File>),
}

impl Default for Upload {
    fn default() -> Upload {
        Upload::from(Vec::new())
    }
}

impl From<Vec<u8>> for Upload {
    fn from(content: Vec<u8>) -> Upload {
        use sha2::Digest;
        let content = Bytes::from(content);
        Upload {
            sha256: hex::encode(sha2::Sha256::digest(&content)),
            size: content.len() as u64,
            head: content.slice(..content.len().min(HEAD_BYTES)),
            body: UploadBody::Memory(content),
        }
    }
}

impl Upload {
    /// Whether its content went to a temporary file rather than memory.
    pub fn is_spooled(&self) -> bool {
        matches!(self.body, UploadBody::Spooled(_))
    }

    /// The whole content in memory (small files; files kept in the database).
    pub async fn to_bytes(&self) -> Result<Bytes, StoreError> {
        match &self.body {
            UploadBody::Memory(b) => Ok(b.clone()),
            UploadBody::Spooled(file) => {
                let mut f = spooled_reader(file).await?;
                let mut out = Vec::with_capacity(usize::try_from(self.size).unwrap_or(0));
                tokio::io::AsyncReadExt::read_to_end(&mut f, &mut out).await.map_err(spool_error)?;
                Ok(Bytes::from(out))
            }
        }
    }
}

fn spool_error(e: std::io::Error) -> StoreError {
    StoreError::FileStore(format!("临时文件读写失败 (the upload's temporary file failed: {e})"))
}

/// A reader from the start of a spooled upload.
async fn spooled_reader(file: &std::fs::File) -> Result<tokio::fs::File, StoreError> {
    let mut f = tokio::fs::File::from_std(file.try_clone().map_err(spool_error)?);
    f.seek(std::io::SeekFrom::Start(0)).await.map_err(spool_error)?;
    Ok(f)
}

/// Receives a file a chunk at a time into an [`Upload`], refusing it past `limit` bytes.
pub struct Receiving {
    hasher: sha2::Sha256,
    size: u64,
    limit: u64,
    head: Vec<u8>,
    memory: Vec<u8>,
    /// Written through a buffer: a body sent in tiny pieces costs one write per 256 KiB, not one
    /// per piece.
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    spool_dir: std::path::PathBuf,
}

/// Why a file could not be received.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Receiving {
    /// A file to receive; past 1 MiB it goes to an unlinked temporary file in `spool_dir`.
    pub fn new(spool_dir: &std::path::Path, limit: u64) -> Receiving {
        use sha2::Digest;
        Receiving {
            hasher: sha2::Sha256::new(),
            size: 0,
            limit,
            head: Vec::new(),
            memory: Vec::new(),
            file: None,
            spool_dir: spool_dir.to_path_buf(),
        }
    }

    /// Takes the next chunk.
    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), ReceiveError> {
        use sha2::Digest;
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(ReceiveError::TooLarge(self.limit));
        }
        self.hasher.update(chunk);
        let room = HEAD_BYTES.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if self.file.is_none() && self.memory.len() + chunk.len() <= IN_MEMORY_BYTES {
            self.memory.extend_from_slice(chunk);
            return Ok(());
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                std::fs::create_dir_all(&self.spool_dir).map_err(spool_error)?;
                let f = tokio::fs::File::from_std(tempfile::tempfile_in(&self.spool_dir).map_err(spool_error)?);
                let mut f = tokio::io::BufWriter::with_capacity(HEAD_BYTES, f);
                f.write_all(&std::mem::take(&mut self.memory)).await.map_err(spool_error)?;
                self.file.insert(f)
            }
        };
        file.write_all(chunk).await.map_err(spool_error)?;
        Ok(())
    }

    /// The first bytes received so far, up to [`HEAD_BYTES`]: what the file's type is checked on.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The file received.
    pub async fn finish(self) -> Result<Upload, StoreError> {
        use sha2::Digest;
        let sha256 = hex::encode(self.hasher.finalize());
        let body = match self.file {
            None => UploadBody::Memory(Bytes::from(self.memory)),
            Some(mut f) => {
                f.flush().await.map_err(spool_error)?;
                UploadBody::Spooled(Arc::new(f.into_inner().into_std().await))
            }
        };
        Ok(Upload { sha256, size: self.size, head: Bytes::from(self.head), body })
    }
}

/// Where new files go.
#[derive(Clone, Debug)]
pub enum FileStore {
    /// In the `files` table itself (how files were kept before; tests of the store alone).
    Database,
    /// Objects named by their SHA-256 in a folder or a bucket.
    Objects {
        store: Arc<dyn ObjectStore>,
        /// Where, for messages (`folder /var/lib/huanxin/files`, `s3 http://…/bucket`).
        shown: String,
        /// Files written ahead of their transaction (see [`Db::stage_file`]).
        staged: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    },
}

/// An S3-compatible store's settings.
#[derive(Clone, Debug, Default)]
pub struct S3Settings {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// `http://host/bucket/key` rather than `http://bucket.host/key` (MinIO, s3s, most on-premises stores).
    pub path_style: bool,
}

/// A file opened for reading, perhaps a range of it.
pub struct OpenedFile {
    /// The whole file's size.
    pub size: u64,
    /// The bytes this body carries.
    pub range: Range<u64>,
    pub body: BoxStream<'static, Result<Bytes, StoreError>>,
}

/// How a stored file's row says where its content is.
const IN_DATABASE: &str = "database";
const IN_OBJECTS: &str = "object";

fn object_error(e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { path, .. } => StoreError::Config(format!("文件存储中缺少文件 (the file store has no {path})")),
        e => StoreError::FileStore(e.to_string()),
    }
}

impl FileStore {
    /// A local folder (created if missing).
    pub fn folder(dir: &std::path::Path) -> Result<FileStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Config(format!("cannot create the file folder {}: {e}", dir.display())))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| StoreError::Config(format!("cannot use the file folder {}: {e}", dir.display())))?;
        Ok(FileStore::Objects { store: Arc::new(store), shown: format!("folder {}", dir.display()), staged: Arc::default() })
    }

    /// An S3-compatible object store.
    pub fn s3(s: &S3Settings) -> Result<FileStore, StoreError> {
        let mut b = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&s.bucket)
            .with_region(if s.region.is_empty() { "us-east-1" } else { &s.region })
            .with_access_key_id(&s.access_key)
            .with_secret_access_key(&s.secret_key)
            .with_virtual_hosted_style_request(!s.path_style)
            // A store that is down answers the user within seconds, not after minutes of retries.
            .with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: std::time::Duration::from_secs(10),
                backoff: object_store::BackoffConfig::default(),
            })
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_connect_timeout(std::time::Duration::from_secs(5))
                    .with_timeout(std::time::Duration::from_secs(120)),
            );
        if !s.endpoint.is_empty() {
            b = b.with_endpoint(&s.endpoint).with_allow_http(s.endpoint.starts_with("http://"));
        }
        let store = b.build().map_err(|e| StoreError::Config(format!("bad object store settings: {e}")))?;
        Ok(FileStore::Objects {
            store: Arc::new(store),
            shown: format!("s3 {}/{}", s.endpoint.trim_end_matches('/'), s.bucket),
            staged: Arc::default(),
        })
    }

    /// Where, for messages.
    pub fn shown(&self) -> &str {
        match self {
            FileStore::Database => "database",
            FileStore::Objects { shown, .. } => shown,
        }
    }

    /// An object's name: `sha256/ab/cd/abcd…`, so that no folder holds millions of entries.
    fn key(sha256: &str) -> ObjectPath {
        let a = sha256.get(0..2).unwrap_or("00");
        let b = sha256.get(2..4).unwrap_or("00");
        ObjectPath::from(format!("sha256/{a}/{b}/{sha256}"))
    }

    /// Whether the store answers (readiness): a missing probe object is an answer.
    pub async fn check(&self) -> Result<(), StoreError> {
        let FileStore::Objects { store, .. } = self else { return Ok(()) };
        match store.head(&ObjectPath::from("huanxin-ready")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(object_error(e)),
        }
    }

    async fn put(&self, sha256: &str, content: Bytes) -> Result<(), StoreError> {
        let FileStore::Objects { store, .. } = self else { return Ok(()) };
        store.put(&Self::key(sha256), PutPayload::from(content)).await.map_err(object_error)?;
        Ok(())
    }

    /// Writes an upload, a part at a time when it was spooled (multipart upload on S3).
    async fn put_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        let FileStore::Objects { store, .. } = self else { return Ok(()) };
        let file = match &upload.body {
            UploadBody::Memory(b) => return self.put(&upload.sha256, b.clone()).await,
            UploadBody::Spooled(file) => file,
        };
        let mut reader = spooled_reader(file).await?;
        // Parts of 10 MiB, two in flight: an upload holds about 30 MiB of memory however slow the
        // store (eight in flight, the default, held 100 MiB while a busy store lagged).
        let mut writer = object_store::buffered::BufWriter::new(Arc::clone(store), Self::key(&upload.sha256)).with_max_concurrency(2);
        // A task of its own: when the request is dropped (its client gone) the copy still ends,
        // completed or aborted, and leaves no multipart upload's parts in the bucket.
        let copy = tokio::spawn(async move {
            let written = match tokio::io::copy(&mut reader, &mut writer).await {
                Ok(_) => writer.shutdown().await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                // A part-written multipart upload is dropped, not left to cost space.
                let _ = writer.abort().await;
                return Err(e.to_string());
            }
            Ok(())
        });
        match copy.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::FileStore(e)),
            Err(e) => Err(StoreError::FileStore(format!("the copy to the file store stopped: {e}"))),
        }
    }

    async fn open(&self, sha256: &str, range: Option<Range<u64>>) -> Result<OpenedFile, StoreError> {
        let FileStore::Objects { store, .. } = self else {
            return Err(StoreError::Config(
                "文件在对象存储中，但服务器未配置文件存储 (the file is in object storage; set file_store)".into(),
            ));
        };
        let options = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        let got = store.get_opts(&Self::key(sha256), options).await.map_err(object_error)?;
        let (size, range) = (got.meta.size, got.range.clone());
        let body = got.into_stream().map(|r| r.map_err(object_error)).boxed();
        Ok(OpenedFile { size, range, body })
    }
}

impl Db {
    /// This database with its files kept in `files`.
    pub fn with_files(mut self, files: FileStore) -> Db {
        self.files = files;
        self
    }

    /// Where new files go.
    pub fn files(&self) -> &FileStore {
        &self.files
    }

    /// Writes a file's content to the file store before the transaction that keeps its row
    /// begins, so that a slow store holds no transaction (on SQLite, the one writer) while it
    /// writes; that transaction's `put_file` then only writes the row.
    pub async fn stage_file(&self, upload: &Upload) -> Result<(), StoreError> {
        let FileStore::Objects { staged, .. } = &self.files else { return Ok(()) };
        self.files.put_upload(upload).await?;
        let mut set = staged.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() > 10_000 {
            set.clear();
        }
        set.insert(upload.sha256.clone());
        Ok(())
    }

    /// A stored file's whole content.
    pub async fn file_content(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        let mut opened = self.open_file(sha256, None).await?;
        let mut content = Vec::with_capacity(usize::try_from(opened.size).unwrap_or(0).min(64 << 20));
        while let Some(chunk) = opened.body.next().await {
            content.extend_from_slice(&chunk?);
        }
        Ok(content)
    }

    /// A stored file, or the `range` of its bytes (clipped to its size), as a stream.
    pub async fn open_file(&self, sha256: &str, range: Option<Range<u64>>) -> Result<OpenedFile, StoreError> {
        let (stored, size): (String, i64) =
            self.fetch_one("SELECT stored, size FROM files WHERE sha256 = $1", crate::args![sha256]).await?;
        let size = u64::try_from(size).unwrap_or(0);
        let range = range.map(|r| r.start.min(size)..r.end.min(size)).filter(|r| r.start < r.end);
        if stored == IN_OBJECTS {
            return self.files.open(sha256, range).await;
        }
        let (content,): (Vec<u8>,) = self.fetch_one("SELECT content FROM files WHERE sha256 = $1", crate::args![sha256]).await?;
        let range = range.unwrap_or(0..content.len() as u64);
        let part = Bytes::from(content).slice(range.start as usize..range.end as usize);
        Ok(OpenedFile { size, range, body: futures_util::stream::once(async move { Ok(part) }).boxed() })
    }

    /// Files still kept in the database: how many, and their bytes.
    pub async fn files_in_database(&self) -> Result<(i64, i64), StoreError> {
        self.fetch_one("SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM files WHERE stored = $1", crate::args![IN_DATABASE])
            .await
    }

    /// Moves up to `batch` files from the database to the file store: each is written to the store
    /// first, then its row says so and drops its content, so a move cut off anywhere loses nothing
    /// and the next run goes on. Answers how many files and bytes moved.
    pub async fn move_files_out(&self, batch: i64) -> Result<(u64, u64), StoreError> {
        if matches!(self.files, FileStore::Database) {
            return Err(StoreError::Config("no file store configured to move files to (file_store = folder or s3)".into()));
        }
        let rows: Vec<(String, Vec<u8>)> = self
            .fetch_all("SELECT sha256, content FROM files WHERE stored = $1 ORDER BY sha256 LIMIT $2", crate::args![IN_DATABASE, batch])
            .await?;
        let (mut files, mut bytes) = (0, 0);
        for (sha, content) in rows {
            let n = content.len() as u64;
            self.files.put(&sha, Bytes::from(content)).await?;
            self.execute(
                "UPDATE files SET stored = $2, content = $3 WHERE sha256 = $1 AND stored = $4",
                vec![
                    crate::Arg::from(sha.as_str()),
                    crate::Arg::from(IN_OBJECTS),
                    crate::Arg::Bytes(Vec::new()),
                    crate::Arg::from(IN_DATABASE),
                ],
            )
            .await?;
            files += 1;
            bytes += n;
        }
        Ok((files, bytes))
    }
}

/// What a sweep of the file store found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Sweep {
    /// Objects in the store.
    pub objects: u64,
    /// Those no row names, older than the grace period: removed (or, on a dry run, to remove).
    pub orphans: u64,
    pub orphan_bytes: u64,
}

/// Objects looked up in the database at once.
const SWEEP_BATCH: usize = 500;

impl Db {
    /// Removes the objects in the file store that no `files` row names and that were written
    /// before `grace` ago (a younger one may be a file staged for a transaction still under way).
    /// Each is looked at again just before it is removed and kept if it was written since. With
    /// `dry_run`, only counts.
    pub async fn sweep_files(&self, grace: chrono::Duration, dry_run: bool) -> Result<Sweep, StoreError> {
        let FileStore::Objects { store, .. } = &self.files else {
            return Err(StoreError::Config("no file store configured to sweep (file_store = folder or s3)".into()));
        };
        let cutoff = crate::clock::utc_now() - grace;
        let mut listing = store.list(Some(&ObjectPath::from("sha256")));
        let (mut sweep, mut batch) = (Sweep::default(), Vec::with_capacity(SWEEP_BATCH));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(object_error)?;
            sweep.objects += 1;
            // Only objects named as ours (`sha256/ab/cd/abcd…`), old enough.
            let ours = meta.location.filename().is_some_and(|name| FileStore::key(name) == meta.location);
            if ours && meta.last_modified <= cutoff {
                batch.push(meta);
            }
            if batch.len() == SWEEP_BATCH {
                self.sweep_batch(store, &mut batch, cutoff, dry_run, &mut sweep).await?;
            }
        }
        self.sweep_batch(store, &mut batch, cutoff, dry_run, &mut sweep).await?;
        Ok(sweep)
    }

    async fn sweep_batch(
        &self,
        store: &Arc<dyn ObjectStore>,
        batch: &mut Vec<object_store::ObjectMeta>,
        cutoff: chrono::DateTime<chrono::Utc>,
        dry_run: bool,
        sweep: &mut Sweep,
    ) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let names: Vec<crate::Arg> = batch.iter().filter_map(|m| m.location.filename()).map(crate::Arg::from).collect();
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let named: Vec<(String,)> =
            self.fetch_all(&format!("SELECT sha256 FROM files WHERE sha256 IN ({})", marks.join(", ")), names).await?;
        let named: std::collections::HashSet<String> = named.into_iter().map(|(s,)| s).collect();
        for meta in batch.drain(..) {
            if meta.location.filename().is_none_or(|name| named.contains(name)) {
                continue;
            }
            if !dry_run {
                match store.head(&meta.location).await {
                    Ok(now) if now.last_modified <= cutoff => {}
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => continue,
                    Err(e) => return Err(object_error(e)),
                }
                match store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(object_error(e)),
                }
            }
            sweep.orphans += 1;
            sweep.orphan_bytes += meta.size;
        }
        Ok(())
    }
}

impl Tx {
    /// Keeps a file by its SHA-256 (kept once however often it is sent) and returns that hash: its
    /// content goes to the file store first, then its row is written in this transaction.
    pub async fn put_file(&mut self, upload: Upload, mime: &str) -> Result<String, StoreError> {
        let sha = upload.sha256.clone();
        let size = i64::try_from(upload.size).unwrap_or(i64::MAX);
        let (stored, content) = match self.files.clone() {
            FileStore::Database => (IN_DATABASE, upload.to_bytes().await?.to_vec()),
            files => {
                let staged = match &files {
                    FileStore::Objects { staged, .. } => staged.lock().unwrap_or_else(|p| p.into_inner()).remove(&sha),
                    FileStore::Database => false,
                };
                let known = staged || self.scalar("SELECT COUNT(*) FROM files WHERE sha256 = $1", crate::args![sha.as_str()]).await? > 0;
                if !known {
                    files.put_upload(&upload).await?;
                }
                (IN_OBJECTS, Vec::new())
            }
        };
        self.execute(
            "INSERT INTO files (sha256, content_type, size, content, stored) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
            vec![
                crate::Arg::from(sha.as_str()),
                crate::Arg::from(mime),
                crate::Arg::from(size),
                crate::Arg::Bytes(content),
                crate::Arg::from(stored),
            ],
        )
        .await?;
        Ok(sha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn receive(content: &[u8], chunk: usize, limit: u64, dir: &std::path::Path) -> Result<Upload, ReceiveError> {
        let mut r = Receiving::new(dir, limit);
        for part in content.chunks(chunk.max(1)) {
            r.push(part).await?;
        }
        Ok(r.finish().await?)
    }

    #[tokio::test]
    async fn uploads_are_hashed_as_they_come_and_spooled_when_large() {
        let dir = std::env::temp_dir().join(format!("huanxin-spool-{}", std::process::id()));
        let large: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        for chunk in [1_000, 65_536, 3_000_000] {
            let got = receive(&large, chunk, 10 << 20, &dir).await.unwrap();
            let whole = Upload::from(large.clone());
            assert!(got.is_spooled() && !whole.is_spooled());
            assert_eq!((got.sha256.as_str(), got.size), (whole.sha256.as_str(), large.len() as u64));
            assert_eq!(got.head, &large[..HEAD_BYTES]);
            assert_eq!(got.to_bytes().await.unwrap(), large, "read back from the start, twice");
            assert_eq!(got.to_bytes().await.unwrap(), large);
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "spooled files are unlinked");
        let small = receive(b"a small photo", 4, 1 << 20, &dir).await.unwrap();
        assert!(!small.is_spooled());
        assert_eq!(small.sha256, Upload::from(b"a small photo".to_vec()).sha256);
        let over = receive(&large, 65_536, 2_000_000, &dir).await;
        assert!(matches!(over, Err(ReceiveError::TooLarge(2_000_000))), "{over:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_spooled_upload_is_written_to_the_store_whole() {
        let dir = std::env::temp_dir().join(format!("huanxin-spool-store-{}", std::process::id()));
        let store = FileStore::folder(&dir.join("files")).unwrap();
        let large: Vec<u8> = (0..12_000_000u32).map(|i| (i % 241) as u8).collect();
        let up = receive(&large, 100_000, 20 << 20, &dir.join("spool")).await.unwrap();
        store.put_upload(&up).await.unwrap();
        let mut opened = store.open(&up.sha256, None).await.unwrap();
        let mut back = Vec::new();
        while let Some(c) = opened.body.next().await {
            back.extend_from_slice(&c.unwrap());
        }
        assert!(back == large, "the object is the upload");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
