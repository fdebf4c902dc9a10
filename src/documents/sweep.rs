//! The blob sweep: removes blobs that no live document refers to (those of deleted documents
//! and the old content of replaced ones), typically run from cron.
//!
//! An upload writes its blob before the row that refers to it commits, so a blob written
//! within the grace period is never removed, and the rows are read after the blobs are
//! listed: a blob is removed only if it was already older than the grace period when listed
//! and no live row referred to it afterwards. Writing a blob again renews its time (see
//! [`Blobs::put`]), which covers an upload whose content matches an orphaned old blob.

use super::storage::{Blobs, StorageError};
use crate::store::{Store, StoreError, documents};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

/// Blobs looked up against the database per query.
const BATCH: usize = 1_000;

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Blobs listed.
    pub blobs: u64,
    /// Kept because a live document refers to them.
    pub referenced: u64,
    /// Kept because they were written within the grace period.
    pub recent: u64,
    /// Removed (or, on a dry run, that would be).
    pub removed: u64,
    /// Their bytes.
    pub removed_bytes: u64,
}

/// Why a sweep stopped (what it removed until then stays removed: each was unreferenced).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The blob store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Removes every blob older than `grace` at `now` that no live document refers to; with
/// `dry_run`, only counts them. `now` is on the store's clock ([`Blobs::now`]), which is the
/// clock that dates the blobs; some stores date them to the second, so a blob of the same
/// second as `now - grace` counts as old (with the default hour of grace that is immaterial).
pub async fn sweep(
    blobs: &Blobs,
    store: &Store,
    now: DateTime<Utc>,
    grace: chrono::Duration,
    dry_run: bool,
) -> Result<SweepReport, SweepError> {
    let cutoff = now - grace;
    let mut report = SweepReport::default();
    let mut batches = std::pin::pin!(blobs.list().chunks(BATCH));
    while let Some(batch) = batches.next().await {
        let batch = batch.into_iter().collect::<Result<Vec<_>, _>>()?;
        report.blobs += batch.len() as u64;
        let (old, recent): (Vec<_>, Vec<_>) =
            batch.into_iter().partition(|b| b.last_modified <= cutoff);
        report.recent += recent.len() as u64;
        let hashes: Vec<String> = old.iter().map(|b| b.sha256.clone()).collect();
        let live =
            documents::live_hashes_among(&mut *store.conn()?, &hashes).map_err(StoreError::from)?;
        for b in old {
            if live.contains(&b.sha256) {
                report.referenced += 1;
                continue;
            }
            if !dry_run {
                blobs.delete(&b.sha256).await?;
            }
            report.removed += 1;
            report.removed_bytes += b.size;
        }
    }
    Ok(report)
}
