//! Document blobs, content-addressed by SHA-256, through the object_store crate: a local
//! directory by default, any object_store backend (S3-compatible included) behind the same
//! interface.

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

fn path(sha256: &str) -> Path {
    let prefix = sha256.get(..2).unwrap_or("00");
    Path::from(format!("sha256/{prefix}/{sha256}"))
}

impl Blobs {
    /// Blobs in a local directory (created if missing).
    pub fn local(dir: &std::path::Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StorageError(format!("{}: {e}", dir.display())))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| StorageError(e.to_string()))?;
        Ok(Self {
            store: Arc::new(fs),
        })
    }

    /// Stores `bytes` under their hash; a blob already there is kept as it is.
    pub async fn put(&self, sha256: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path(sha256), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(StorageError(e.to_string())),
        }
    }

    /// The blob with this hash.
    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, StorageError> {
        let got = self
            .store
            .get(&path(sha256))
            .await
            .map_err(|e| StorageError(e.to_string()))?;
        let bytes = got.bytes().await.map_err(|e| StorageError(e.to_string()))?;
        Ok(bytes.to_vec())
    }
}
