//! Documents of a case: safe inspection of untrusted PDF/JPEG/PNG files in a worker process,
//! content-addressed storage and the sweep of blobs no live document refers to. (The
//! service rules — upload, replacement, deletion, readiness — are in `service::documents`.)

pub mod inspect;
pub mod storage;
pub mod sweep;
pub mod worker;

/// What the server needs for documents.
#[derive(Debug, Clone)]
pub struct Documents {
    /// Blob storage.
    pub blobs: storage::Blobs,
    /// Inspection in worker processes.
    pub inspector: worker::Inspector,
    /// Bytes of live documents one user may hold in all.
    pub quota_bytes: i64,
}

impl Documents {
    /// Blobs in `blobs`, inspections by the `accredo` binary at `exe`, a 200 MB quota.
    pub fn new(blobs: storage::Blobs, exe: std::path::PathBuf) -> Self {
        Self {
            blobs,
            inspector: worker::Inspector::new(worker::WorkerConfig::new(exe)),
            quota_bytes: 200 << 20,
        }
    }

    /// Blobs under the local directory `dir`, inspections by the binary at `exe`.
    pub fn local(
        dir: &std::path::Path,
        exe: std::path::PathBuf,
    ) -> Result<Self, storage::StorageError> {
        Ok(Self::new(storage::Blobs::local(dir)?, exe))
    }
}
