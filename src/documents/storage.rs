//! Document blobs, content-addressed by SHA-256, through the object_store crate: a local
//! directory by default, an S3-compatible bucket when configured, behind the same interface.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use std::sync::Arc;

/// Storage failures (ours, not the user's).
#[derive(Debug, thiserror::Error)]
#[error("document storage: {0}")]
pub struct StorageError(String);

/// The blob store.
#[derive(Debug, Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

/// One stored blob, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// The content's SHA-256 (hex), which is its name.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written.
    pub last_modified: DateTime<Utc>,
}

const ROOT: &str = "sha256";

fn path(sha256: &str) -> Path {
    let prefix = sha256.get(..2).unwrap_or("00");
    Path::from(format!("{ROOT}/{prefix}/{sha256}"))
}

fn err(e: impl std::fmt::Display) -> StorageError {
    StorageError(e.to_string())
}

impl Blobs {
    /// Blobs in a local directory (created if missing).
    pub fn local(dir: &std::path::Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StorageError(format!("{}: {e}", dir.display())))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(err)?;
        Ok(Self {
            store: Arc::new(fs),
        })
    }

    /// Blobs in an S3-compatible bucket, `s3://bucket` or `s3://bucket/prefix`. Credentials,
    /// region and endpoint come from the standard `AWS_*` environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`,
    /// `AWS_ALLOW_HTTP` for a plain-HTTP endpoint such as a local MinIO).
    pub fn s3(url: &str) -> Result<Self, StorageError> {
        let parsed = url::Url::parse(url).map_err(|e| StorageError(format!("{url}: {e}")))?;
        if parsed.scheme() != "s3" || parsed.host_str().is_none_or(str::is_empty) {
            return Err(StorageError(format!(
                "{url}: expected s3://bucket or s3://bucket/prefix"
            )));
        }
        let s3 = object_store::aws::AmazonS3Builder::from_env()
            .with_url(url)
            .build()
            .map_err(err)?;
        let prefix = parsed.path().trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
        };
        Ok(Self { store })
    }

    /// The store named by `url` (`s3://…`) if given, else the local directory `dir`.
    pub fn from_config(url: Option<&str>, dir: &std::path::Path) -> Result<Self, StorageError> {
        match url {
            Some(url) => Self::s3(url),
            None => Self::local(dir),
        }
    }

    /// Stores `bytes` under their hash. An existing blob is written again (same bytes): that
    /// renews its modification time, which the sweep's grace period relies on when a new
    /// document is about to refer to a blob no live document refers to yet.
    pub async fn put(&self, sha256: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let opts = PutOptions {
            mode: PutMode::Overwrite,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&path(sha256), PutPayload::from(bytes), opts)
            .await
            .map(drop)
            .map_err(err)
    }

    /// The store's own clock: the modification time it gives a probe object written now. Blob
    /// times come from the store (a file system, an S3 server), not from our clock, so ages are
    /// measured against this; a server clock set elsewhere cannot make a fresh blob look old.
    pub async fn now(&self) -> Result<DateTime<Utc>, StorageError> {
        // Read back through a listing, like the blobs (a HEAD answer has only whole seconds).
        let dir = Path::from(format!("probe/{}", hex::encode(rand::random::<[u8; 16]>())));
        let probe = dir.child("probe");
        self.store
            .put(&probe, PutPayload::from_static(b"probe"))
            .await
            .map_err(err)?;
        let listed = self.store.list(Some(&dir)).next().await;
        let removed = self.store.delete(&probe).await;
        let meta = listed
            .ok_or_else(|| StorageError("the probe object was not listed".into()))?
            .map_err(err)?;
        match removed {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(meta.last_modified),
            Err(e) => Err(err(e)),
        }
    }

    /// The blob with this hash.
    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, StorageError> {
        let got = self.store.get(&path(sha256)).await.map_err(err)?;
        let bytes = got.bytes().await.map_err(err)?;
        Ok(bytes.to_vec())
    }

    /// Removes a blob (one already gone is not an error).
    pub async fn delete(&self, sha256: &str) -> Result<(), StorageError> {
        match self.store.delete(&path(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    /// Every blob, streamed (memory stays bounded whatever the number of blobs). Objects
    /// that are not blobs (names other than a SHA-256) are skipped.
    pub fn list(
        &self,
    ) -> impl futures_util::Stream<Item = Result<BlobInfo, StorageError>> + Send + 'static {
        self.store
            .list(Some(&Path::from(ROOT)))
            .filter_map(|meta| async move {
                let meta = match meta {
                    Ok(m) => m,
                    Err(e) => return Some(Err(err(e))),
                };
                let name = meta.location.filename()?;
                (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
                    Ok(BlobInfo {
                        sha256: name.to_owned(),
                        size: meta.size,
                        last_modified: meta.last_modified,
                    })
                })
            })
    }
}
