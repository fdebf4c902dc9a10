//! Documents of a case: safe inspection of untrusted PDF/JPEG/PNG files in a worker process,
//! and content-addressed storage. (Replacement, deletion, the blob sweep and the readiness
//! report are still to come.)

pub mod inspect;
pub mod storage;
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
    /// Blobs under `dir`, inspections by the `accredo` binary at `exe`, a 200 MB quota.
    pub fn local(
        dir: &std::path::Path,
        exe: std::path::PathBuf,
    ) -> Result<Self, storage::StorageError> {
        Ok(Self {
            blobs: storage::Blobs::local(dir)?,
            inspector: worker::Inspector::new(worker::WorkerConfig::new(exe)),
            quota_bytes: 200 << 20,
        })
    }
}
