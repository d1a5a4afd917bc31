//! Where files' contents live (issue 18 §2, docs/deploy.md): archive documents, photos, camera
//! snapshots. Each file is kept once by its SHA-256. Its row in `files` (type, size, where) is
//! written in the transaction that uses it. Its content goes, before that transaction writes the
//! row, to a local folder (the default), to an S3-compatible object store (a cluster), or, for
//! installs from before this, stays in the row's `content` until `huanxin files migrate` moves it
//! out. So no row points to a missing file. A rolled-back transaction may leave an object no row
//! names, which costs space and nothing else.

use crate::{Db, StoreError, Tx};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};
use std::ops::Range;
use std::sync::Arc;

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
    pub async fn stage_file(&self, content: &[u8]) -> Result<(), StoreError> {
        use sha2::Digest;
        let FileStore::Objects { staged, .. } = &self.files else { return Ok(()) };
        let sha = hex::encode(sha2::Sha256::digest(content));
        self.files.put(&sha, Bytes::copy_from_slice(content)).await?;
        let mut set = staged.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() > 10_000 {
            set.clear();
        }
        set.insert(sha);
        Ok(())
    }

    /// A stored file's size in bytes.
    pub async fn file_size(&self, sha256: &str) -> Result<u64, StoreError> {
        Ok(u64::try_from(self.scalar("SELECT size FROM files WHERE sha256 = $1", crate::args![sha256]).await?).unwrap_or(0))
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

impl Tx {
    /// Keeps a file by its SHA-256 (kept once however often it is sent) and returns that hash: its
    /// content goes to the file store first, then its row is written in this transaction.
    pub async fn put_file(&mut self, content: Vec<u8>, mime: &str) -> Result<String, StoreError> {
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(&content));
        let size = i64::try_from(content.len()).unwrap_or(i64::MAX);
        let (stored, content) = match self.files.clone() {
            FileStore::Database => (IN_DATABASE, content),
            files => {
                let staged = match &files {
                    FileStore::Objects { staged, .. } => staged.lock().unwrap_or_else(|p| p.into_inner()).remove(&sha),
                    FileStore::Database => false,
                };
                let known = staged || self.scalar("SELECT COUNT(*) FROM files WHERE sha256 = $1", crate::args![sha.as_str()]).await? > 0;
                if !known {
                    files.put(&sha, Bytes::from(content)).await?;
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
