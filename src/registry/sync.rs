//! Sync of our register copy from an export file (JSON Lines): streamed in batches, idempotent
//! (unchanged records are only marked as seen), changed ones updated, and with a full export
//! the ones missing from it marked removed (never deleted). One sync at a time (a lock row).

use super::record::{RegisterPerson, Rejection};
use crate::domain::clock::Clock;
use crate::store::registry::{self as rows, Counts, PersonRow};
use crate::store::{DbConnection, StoreError, write_tx};
use chrono::Duration;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;

/// Records written per transaction.
const BATCH: usize = 500;
/// Rejections kept in the stored report (all are counted).
const REPORT_LIMIT: usize = 1_000;
/// A lock not extended for this long belongs to a crashed run.
const LOCK_TTL: Duration = Duration::minutes(10);

/// Why a sync did not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Another sync holds the lock.
    #[error("another register sync is running")]
    Locked,
    /// Reading the source failed.
    #[error("cannot read the export: {0}")]
    Read(#[from] std::io::Error),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for SyncError {
    fn from(e: diesel::result::Error) -> Self {
        SyncError::Store(StoreError::Query(e))
    }
}

/// The outcome of a finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Run id (its report is stored).
    pub run: i64,
    /// Counters.
    pub counts: Counts,
    /// Rejected records (at most the first thousand).
    pub rejections: Vec<Rejection>,
}

fn to_row(p: &RegisterPerson, hash: String, run: i64, now: chrono::NaiveDateTime) -> PersonRow {
    fn json(v: &impl serde::Serialize) -> String {
        serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
    }
    PersonRow {
        register_id: p.register_id.clone(),
        snils: p.snils.clone(),
        last_name: p.last_name.clone(),
        first_name: p.first_name.clone(),
        middle_name: p.middle_name.clone(),
        birth_date: p.birth_date,
        inn: p.inn.clone(),
        gender: p.gender.clone(),
        employments: json(&p.employments),
        educations: json(&p.educations),
        accreditations: json(&p.accreditations),
        source_updated_at: p.updated_at.map(|t| t.naive_utc()),
        record_hash: hash,
        removed_at: None,
        last_seen_run: run,
        synced_at: now,
    }
}

/// Writes one batch in one transaction; records whose SNILS belongs to another register id
/// (in the database or earlier in the batch) are rejected, not written.
fn write_batch(
    conn: &mut DbConnection,
    batch: &[(u64, RegisterPerson)],
    run: i64,
    clock: &dyn Clock,
    counts: &mut Counts,
    rejections: &mut Vec<Rejection>,
) -> Result<(), SyncError> {
    let now = clock.now().naive_utc();
    let (c, r) = write_tx(conn, |conn| {
        let mut c = Counts::default();
        let mut r = Vec::new();
        let ids: Vec<&str> = batch.iter().map(|(_, p)| p.register_id.as_str()).collect();
        let snils: Vec<&str> = batch.iter().map(|(_, p)| p.snils.as_str()).collect();
        let stored = rows::existing(conn, &ids, &snils)?;
        let by_id: HashMap<&str, (&str, &str, bool)> = stored
            .iter()
            .map(|(id, s, h, removed)| (id.as_str(), (s.as_str(), h.as_str(), *removed)))
            .collect();
        let mut snils_owner: HashMap<String, String> = stored
            .iter()
            .map(|(id, s, _, _)| (s.clone(), id.clone()))
            .collect();
        let mut seen_ids = HashSet::new();
        let mut unchanged = Vec::new();
        for (line, p) in batch {
            if !seen_ids.insert(p.register_id.as_str()) {
                r.push(Rejection {
                    line: *line,
                    code: "duplicate_record",
                    reason: format!("register_id {} repeats in the export", p.register_id),
                });
                continue;
            }
            if snils_owner
                .get(&p.snils)
                .is_some_and(|owner| *owner != p.register_id)
            {
                r.push(Rejection {
                    line: *line,
                    code: "duplicate_snils",
                    reason: format!("SNILS {} belongs to another register record", p.snils),
                });
                continue;
            }
            let hash = p.content_hash();
            match by_id.get(p.register_id.as_str()) {
                None => {
                    rows::insert(conn, &to_row(p, hash, run, now))?;
                    c.inserted += 1;
                }
                Some((_, old_hash, removed)) if *old_hash == hash && !removed => {
                    unchanged.push(p.register_id.as_str());
                    c.unchanged += 1;
                }
                Some((old_snils, _, _)) => {
                    snils_owner.remove(*old_snils);
                    rows::update(conn, &to_row(p, hash, run, now))?;
                    c.updated += 1;
                }
            }
            snils_owner.insert(p.snils.clone(), p.register_id.clone());
        }
        for chunk in unchanged.chunks(BATCH) {
            rows::touch(conn, chunk, run)?;
        }
        rows::extend_lock(conn, run, now + LOCK_TTL)?;
        Ok::<_, SyncError>((c, r))
    })?;
    counts.inserted += c.inserted;
    counts.updated += c.updated;
    counts.unchanged += c.unchanged;
    counts.rejected += i64::try_from(r.len()).unwrap_or(i64::MAX);
    rejections.extend(r);
    Ok(())
}

/// Runs a sync from JSON Lines. `full`: the export is the whole register (absent records are
/// marked removed). `progress` is called after each batch with the counters so far.
pub fn from_json_lines(
    conn: &mut DbConnection,
    clock: &dyn Clock,
    source: &str,
    input: impl BufRead,
    full: bool,
    mut progress: impl FnMut(&Counts),
) -> Result<Summary, SyncError> {
    let now = clock.now().naive_utc();
    let run = write_tx(conn, |conn| {
        let run = rows::start_run(conn, source, full, now)?;
        if rows::lock(conn, run, now, now + LOCK_TTL)? {
            Ok(Some(run))
        } else {
            rows::finish_run(conn, run, "refused_locked", Counts::default(), "{}", now)?;
            Ok::<_, StoreError>(None)
        }
    })
    .map_err(|e| {
        if e.is_conflict() {
            SyncError::Locked
        } else {
            SyncError::Store(e)
        }
    })?
    .ok_or(SyncError::Locked)?;

    let mut counts = Counts::default();
    let mut rejections = Vec::new();
    let result = (|| -> Result<(), SyncError> {
        let mut batch = Vec::with_capacity(BATCH);
        for (i, line) in input.lines().enumerate() {
            let line_no = u64::try_from(i).unwrap_or(u64::MAX) + 1;
            let text = line?;
            if text.trim().is_empty() {
                continue;
            }
            counts.read += 1;
            match RegisterPerson::parse_line(line_no, &text) {
                Ok(p) => batch.push((line_no, p)),
                Err(rej) => {
                    counts.rejected += 1;
                    rejections.push(rej);
                }
            }
            if batch.len() == BATCH {
                write_batch(conn, &batch, run, clock, &mut counts, &mut rejections)?;
                batch.clear();
                progress(&counts);
            }
        }
        if !batch.is_empty() {
            write_batch(conn, &batch, run, clock, &mut counts, &mut rejections)?;
            progress(&counts);
        }
        if full {
            let removed = write_tx(conn, |conn| {
                rows::mark_removed(conn, run, clock.now().naive_utc()).map_err(StoreError::from)
            })?;
            counts.removed = i64::try_from(removed).unwrap_or(i64::MAX);
        }
        Ok(())
    })();
    let status = if result.is_ok() {
        "succeeded"
    } else {
        "failed"
    };
    rejections.sort_by_key(|r| r.line);
    let report = json!({
        "rejections": rejections.iter().take(REPORT_LIMIT).collect::<Vec<_>>(),
        "rejections_total": rejections.len(),
        "error": result.as_ref().err().map(ToString::to_string),
    })
    .to_string();
    let end = clock.now().naive_utc();
    write_tx(conn, |conn| {
        rows::finish_run(conn, run, status, counts, &report, end)?;
        rows::unlock(conn, run).map_err(StoreError::from)
    })?;
    result?;
    rejections.truncate(REPORT_LIMIT);
    Ok(Summary {
        run,
        counts,
        rejections,
    })
}
