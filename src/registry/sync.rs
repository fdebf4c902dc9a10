//! Sync of our register copy from a source (an export file or the register's API).
//!
//! The source runs on its own thread and hands over chunks of checked records through a
//! bounded channel, so reading and parsing overlap with writing and memory stays flat whatever
//! the size of the export. Each chunk is written in one transaction: new records in one bulk
//! write (binary `COPY` on PostgreSQL), changed ones in one set-based `UPDATE`, unchanged ones
//! not rewritten at all (a full export only lists them in `registry_sync_seen`), the chunk's
//! rejections, the run's counters and, for a resumable source, where to resume. If the bulk
//! write fails (a SNILS moving between records, say), the chunk is rolled back and written
//! again record by record, each in a savepoint, so a bad record is rejected alone and leaves
//! nothing behind. A full export then marks every record it did not contain as removed (never
//! deletes) with one anti-join. One sync at a time (a lock row).

use super::record::{RegisterPerson, Rejection, list_json};
use crate::domain::clock::Clock;
use crate::store::registry::{self as rows, Counts, PersonRow, RejectionRow};
use crate::store::{DbConnection, StoreError, write_tx};
use chrono::{Duration, NaiveDateTime};
use diesel::Connection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read};

/// Records per chunk when reading a file.
pub const FILE_BATCH: usize = 5_000;
/// Rejections listed in the stored report (all are kept in `registry_rejections`).
const REPORT_LIMIT: i64 = 1_000;
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
    /// The source refused or broke off (after retries where they make sense).
    #[error("{0}")]
    Source(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DieselError> for SyncError {
    fn from(e: DieselError) -> Self {
        SyncError::Store(StoreError::Query(e))
    }
}

/// The outcome of a finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Run id (its report is stored).
    pub run: i64,
    /// Counters (over the whole run, including the part before a resume).
    pub counts: Counts,
    /// Rejected records, in source order (at most the first thousand).
    pub rejections: Vec<RejectionRow>,
    /// Offset the run resumed from, if it continued an interrupted one.
    pub resumed_from: Option<i64>,
}

/// A checked record and its position in the source (line of a file, 1-based record number
/// of the API).
#[derive(Debug, Clone)]
pub struct Record {
    /// Position in the source.
    pub line: u64,
    /// The row to store (run and time are filled in when written).
    pub row: PersonRow,
}

impl Record {
    /// Prepares a checked person for writing.
    pub fn new(line: u64, p: RegisterPerson) -> Self {
        let employments = list_json(&p.employments);
        let educations = list_json(&p.educations);
        let accreditations = list_json(&p.accreditations);
        let record_hash = p.content_hash_with(&employments, &educations, &accreditations);
        let row = PersonRow {
            employments,
            educations,
            accreditations,
            source_updated_at: p.updated_at.map(|t| t.naive_utc()),
            register_id: p.register_id,
            snils: p.snils,
            last_name: p.last_name,
            first_name: p.first_name,
            middle_name: p.middle_name,
            birth_date: p.birth_date,
            inn: p.inn,
            gender: p.gender,
            record_hash,
            removed_at: None,
            last_seen_run: 0,
            synced_at: NaiveDateTime::default(),
        };
        Self { line, row }
    }
}

/// A piece of the source, committed in one transaction.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Lines or records read, rejected ones included.
    pub read: i64,
    /// Records that passed the checks.
    pub records: Vec<Record>,
    /// Records that did not.
    pub rejected: Vec<Rejection>,
    /// For a resumable source: where to resume once this chunk is committed.
    pub resume_offset: Option<i64>,
}

/// Hands a chunk to the writer; false when the writer has stopped (the source should too).
pub type Emit<'a> = dyn FnMut(Chunk) -> bool + 'a;

/// What to sync.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// Names the source in the run's report (file path or API address); a resumable run is
    /// continued only by a run of the same source.
    pub source: &'a str,
    /// The source is the whole register: mark everyone absent from it as removed.
    pub full: bool,
    /// Continue the newest interrupted run of this source from where it stopped.
    pub resumable: bool,
}

struct Started {
    run: i64,
    counts: Counts,
    resumed_from: Option<i64>,
}

fn start(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    plan: Plan<'_>,
) -> Result<Started, SyncError> {
    write_tx(conn, |conn| {
        let previous = if plan.resumable {
            rows::resumable(conn, plan.source)?.filter(|r| r.full_export == plan.full)
        } else {
            None
        };
        let run = match &previous {
            Some(r) => r.id,
            None => rows::start_run(conn, plan.source, plan.full, now)?,
        };
        if !rows::lock(conn, run, now, now + LOCK_TTL)? {
            let refused = match previous {
                Some(_) => rows::start_run(conn, plan.source, plan.full, now)?,
                None => run,
            };
            rows::finish_run(
                conn,
                refused,
                "refused_locked",
                Counts::default(),
                "{}",
                now,
            )?;
            return Ok(None);
        }
        // We hold the lock, so no other run is alive: runs left "running" by a dead process
        // that cannot resume are over, and only this run's seen list matters.
        rows::close_interrupted(conn, run, now)?;
        rows::clear_seen(conn, run)?;
        let started = match previous {
            Some(r) => {
                rows::reopen_run(conn, run)?;
                Started {
                    run,
                    counts: r.counts(),
                    resumed_from: r.resume_offset,
                }
            }
            None => Started {
                run,
                counts: Counts::default(),
                resumed_from: None,
            },
        };
        Ok::<_, StoreError>(Some(started))
    })
    .map_err(|e: StoreError| {
        if e.is_conflict() {
            SyncError::Locked
        } else {
            SyncError::Store(e)
        }
    })?
    .ok_or(SyncError::Locked)
}

/// What the run knows about every stored record, so that a chunk is compared in memory
/// instead of with a query: a keyed 64-bit hash of the register id (SipHash with this run's
/// random key, so ids cannot be chosen to collide) → the first 64 bits of the content hash
/// and two flags. About 30 MB per million records; loaded page by page at the start.
/// A changed record whose new content hash shares its first 64 bits with the old one would
/// be taken as unchanged: a chance of 2⁻⁶⁴ per change.
struct Known {
    keys: std::hash::RandomState,
    map: HashMap<u64, Entry, std::hash::BuildHasherDefault<KeyHasher>>,
    /// Live (not removed) records not seen in this run yet: when none are left at the end of
    /// a full run, nobody is absent and the removal pass is skipped.
    unseen_live: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    content: u64,
    removed: bool,
    /// Already in this run (written, or found unchanged).
    seen: bool,
}

/// The map's keys are SipHash outputs already: use them as they are.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Records read per query when loading what is stored.
const PAGE: i64 = 50_000;

fn content_key(record_hash: &str) -> u64 {
    record_hash
        .get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

impl Known {
    fn key(&self, register_id: &str) -> u64 {
        use std::hash::BuildHasher;
        self.keys.hash_one(register_id)
    }

    /// Everything stored; records this run already wrote (before a resume) or listed as
    /// seen count as seen.
    fn load(conn: &mut DbConnection, run: i64) -> Result<Self, StoreError> {
        let mut known = Self {
            keys: std::hash::RandomState::new(),
            map: HashMap::default(),
            unseen_live: 0,
        };
        rows::scan_fingerprints(conn, PAGE, |page| {
            known.map.reserve(page.len());
            for f in page {
                let entry = Entry {
                    content: content_key(&f.content),
                    removed: f.removed,
                    seen: f.last_seen_run == run,
                };
                if !entry.removed && !entry.seen {
                    known.unseen_live += 1;
                }
                known.map.insert(known.key(&f.register_id), entry);
            }
        })?;
        for id in rows::seen_ids(conn, run)? {
            let key = known.key(&id);
            if let Some(e) = known.map.get_mut(&key) {
                if !e.removed && !e.seen {
                    known.unseen_live = known.unseen_live.saturating_sub(1);
                }
                e.seen = true;
            }
        }
        Ok(known)
    }

    fn get(&self, register_id: &str) -> Option<Entry> {
        self.map.get(&self.key(register_id)).copied()
    }

    /// After a commit: the record is stored with this content and seen in this run.
    fn stored(&mut self, row: &PersonRow) {
        let key = self.key(&row.register_id);
        let before = self.map.insert(
            key,
            Entry {
                content: content_key(&row.record_hash),
                removed: false,
                seen: true,
            },
        );
        if before.is_some_and(|e| !e.removed && !e.seen) {
            self.unseen_live = self.unseen_live.saturating_sub(1);
        }
    }
}

/// What to do with a record, given what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Insert,
    Update,
    Unchanged,
}

/// A chunk's records against what is stored, in source order.
#[derive(Default)]
struct Sorted<'a> {
    actions: Vec<(Action, &'a Record)>,
    rejected: Vec<RejectionRow>,
}

impl<'a> Sorted<'a> {
    fn with(&self, action: Action) -> impl Iterator<Item = &'a Record> + '_ {
        self.actions
            .iter()
            .filter(move |(a, _)| *a == action)
            .map(|(_, r)| *r)
    }
}

fn rejection(run: i64, line: u64, code: &str, reason: String) -> RejectionRow {
    RejectionRow {
        run_id: run,
        line: i64::try_from(line).unwrap_or(i64::MAX),
        code: code.to_owned(),
        reason,
    }
}

/// Sorts a chunk against what the run knows. A SNILS held by another stored record is not
/// known here: the database's unique index refuses it, and the chunk is then written record
/// by record with [`sort`].
fn classify<'a>(known: &Known, run: i64, records: &'a [Record]) -> Sorted<'a> {
    let mut ids: HashSet<u64, std::hash::BuildHasherDefault<KeyHasher>> =
        HashSet::with_capacity_and_hasher(records.len(), Default::default());
    let mut snils_owner: HashMap<&str, &str> = HashMap::with_capacity(records.len());
    let mut out = Sorted::default();
    for rec in records {
        let p = &rec.row;
        let key = known.key(&p.register_id);
        let stored = known.map.get(&key).copied();
        if !ids.insert(key) || stored.is_some_and(|e| e.seen) {
            out.rejected.push(duplicate(run, rec));
            continue;
        }
        if snils_owner
            .insert(p.snils.as_str(), p.register_id.as_str())
            .is_some_and(|owner| owner != p.register_id)
        {
            out.rejected.push(snils_taken(run, rec));
            continue;
        }
        let action = match stored {
            None => Action::Insert,
            Some(e) if e.content == content_key(&p.record_hash) && !e.removed => Action::Unchanged,
            Some(_) => Action::Update,
        };
        out.actions.push((action, rec));
    }
    out
}

fn snils_taken(run: i64, rec: &Record) -> RejectionRow {
    rejection(
        run,
        rec.line,
        "duplicate_snils",
        format!("SNILS {} belongs to another register record", rec.row.snils),
    )
}

fn duplicate(run: i64, rec: &Record) -> RejectionRow {
    rejection(
        run,
        rec.line,
        "duplicate_record",
        format!("register_id {} repeats in the export", rec.row.register_id),
    )
}

/// Sorts a chunk against the database (the record-by-record path): also finds records whose
/// SNILS another stored record holds.
fn sort<'a>(
    conn: &mut DbConnection,
    known: &Known,
    run: i64,
    records: &'a [Record],
) -> Result<Sorted<'a>, DieselError> {
    let ids: Vec<&str> = records.iter().map(|r| r.row.register_id.as_str()).collect();
    let snils: Vec<&str> = records.iter().map(|r| r.row.snils.as_str()).collect();
    let stored = rows::existing(conn, &ids, &snils)?;
    let by_id: HashMap<&str, &rows::Existing> =
        stored.iter().map(|e| (e.register_id.as_str(), e)).collect();
    let mut snils_owner: HashMap<&str, &str> = stored
        .iter()
        .map(|e| (e.snils.as_str(), e.register_id.as_str()))
        .collect();
    let mut seen_ids = HashSet::new();
    let mut out = Sorted::default();
    for rec in records {
        let p = &rec.row;
        let stored = by_id.get(p.register_id.as_str());
        let earlier_in_run = known.get(&p.register_id).is_some_and(|e| e.seen);
        if !seen_ids.insert(p.register_id.as_str()) || earlier_in_run {
            out.rejected.push(duplicate(run, rec));
            continue;
        }
        if snils_owner
            .get(p.snils.as_str())
            .is_some_and(|owner| *owner != p.register_id)
        {
            out.rejected.push(snils_taken(run, rec));
            continue;
        }
        let action = match stored {
            None => Action::Insert,
            Some(e) if e.record_hash == p.record_hash && !e.removed => Action::Unchanged,
            Some(e) => {
                snils_owner.remove(e.snils.as_str());
                Action::Update
            }
        };
        out.actions.push((action, rec));
        snils_owner.insert(p.snils.as_str(), p.register_id.as_str());
    }
    Ok(out)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The chunk's changes in bulk; any database error aborts the whole chunk. Returns the
/// records now stored (written or unchanged).
fn write_bulk<'a>(
    conn: &mut DbConnection,
    known: &Known,
    run: i64,
    persist_seen: bool,
    records: &'a [Record],
    rejected: &mut Vec<RejectionRow>,
    counts: &mut Counts,
) -> Result<Vec<&'a Record>, DieselError> {
    let sorted = classify(known, run, records);
    let update: Vec<&PersonRow> = sorted.with(Action::Update).map(|r| &r.row).collect();
    let insert: Vec<&PersonRow> = sorted.with(Action::Insert).map(|r| &r.row).collect();
    let unchanged: Vec<&str> = sorted
        .with(Action::Unchanged)
        .map(|r| r.row.register_id.as_str())
        .collect();
    // Updates first: a SNILS a changed record gives up may be taken by a new one.
    rows::update_many(conn, &update)?;
    rows::insert_many(conn, &insert)?;
    if persist_seen {
        rows::mark_seen(conn, run, &unchanged)?;
    }
    counts.inserted += count(insert.len());
    counts.updated += count(update.len());
    counts.unchanged += count(unchanged.len());
    rejected.extend(sorted.rejected);
    Ok(sorted.actions.iter().map(|(_, r)| *r).collect())
}

/// The chunk record by record, each in a savepoint: a record the database refuses is rejected
/// and leaves nothing behind; the others are written. Returns the records now stored.
fn write_one_by_one<'a>(
    conn: &mut DbConnection,
    known: &Known,
    run: i64,
    persist_seen: bool,
    records: &'a [Record],
    rejected: &mut Vec<RejectionRow>,
    counts: &mut Counts,
) -> Result<Vec<&'a Record>, DieselError> {
    let sorted = sort(conn, known, run, records)?;
    rejected.extend(sorted.rejected);
    let mut stored = Vec::with_capacity(sorted.actions.len());
    for (action, rec) in sorted.actions {
        let done = conn.transaction(|c| match action {
            Action::Insert => rows::insert(c, &rec.row),
            Action::Update => rows::update(c, &rec.row),
            Action::Unchanged if persist_seen => {
                rows::mark_seen(c, run, &[rec.row.register_id.as_str()])
            }
            Action::Unchanged => Ok(()),
        });
        match done {
            Ok(()) => {
                stored.push(rec);
                match action {
                    Action::Insert => counts.inserted += 1,
                    Action::Update => counts.updated += 1,
                    Action::Unchanged => counts.unchanged += 1,
                }
            }
            Err(e @ DieselError::DatabaseError(..)) => {
                let unique = matches!(
                    e,
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
                );
                let code = match (unique, action) {
                    (true, Action::Unchanged) => "duplicate_record",
                    (true, _) => "duplicate_snils",
                    (false, _) => "write_refused",
                };
                rejected.push(rejection(run, rec.line, code, e.to_string()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(stored)
}

fn write_chunk(
    conn: &mut DbConnection,
    clock: &dyn Clock,
    known: &mut Known,
    run: i64,
    plan: Plan<'_>,
    mut chunk: Chunk,
    counts: &mut Counts,
) -> Result<(), SyncError> {
    let now = clock.now().naive_utc();
    for rec in &mut chunk.records {
        rec.row.last_seen_run = run;
        rec.row.synced_at = now;
    }
    let base: Vec<RejectionRow> = chunk
        .rejected
        .into_iter()
        .map(|r| rejection(run, r.line, r.code, r.reason))
        .collect();
    // A resumable full run keeps its seen list in the database: after a crash it is all
    // that says which unchanged records the export held.
    let persist_seen = plan.full && plan.resumable;
    let records = &chunk.records;
    let commit = |conn: &mut DbConnection, known: &Known, bulk: bool| {
        write_tx(conn, |conn| {
            let mut c = *counts;
            c.read += chunk.read;
            let mut rejected = base.clone();
            let stored = if bulk {
                write_bulk(
                    conn,
                    known,
                    run,
                    persist_seen,
                    records,
                    &mut rejected,
                    &mut c,
                )?
            } else {
                write_one_by_one(
                    conn,
                    known,
                    run,
                    persist_seen,
                    records,
                    &mut rejected,
                    &mut c,
                )?
            };
            c.rejected += count(rejected.len());
            rows::add_rejections(conn, &rejected)?;
            rows::checkpoint(conn, run, c, chunk.resume_offset)?;
            rows::extend_lock(conn, run, now + LOCK_TTL)?;
            Ok::<_, SyncError>((c, stored))
        })
    };
    let (c, stored) = match commit(conn, known, true) {
        Ok(done) => done,
        Err(SyncError::Store(StoreError::Query(DieselError::DatabaseError(kind, info)))) => {
            tracing::debug!(
                ?kind,
                error = info.message(),
                "bulk write refused, record by record"
            );
            commit(conn, known, false)?
        }
        Err(e) => return Err(e),
    };
    for rec in stored {
        known.stored(&rec.row);
    }
    *counts = c;
    Ok(())
}

/// Marks as removed every live record the full export did not hold; returns how many.
fn mark_absent_removed(
    conn: &mut DbConnection,
    known: &Known,
    run: i64,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    if known.unseen_live == 0 {
        return Ok(0);
    }
    let mut gone = Vec::new();
    rows::scan_fingerprints(conn, PAGE, |page| {
        gone.extend(
            page.into_iter()
                .filter(|f| !f.removed && f.last_seen_run != run)
                .filter(|f| !known.get(&f.register_id).is_some_and(|e| e.seen))
                .map(|f| f.register_id),
        );
    })?;
    let ids: Vec<&str> = gone.iter().map(String::as_str).collect();
    write_tx(conn, |conn| {
        rows::mark_removed(conn, &ids, now).map_err(StoreError::from)
    })
}

/// Runs a sync. `produce` runs on its own thread: it gets the offset to start from (0, or
/// where an interrupted run stopped) and emits chunks; `progress` is called after each chunk
/// is committed.
pub fn run<P>(
    conn: &mut DbConnection,
    clock: &dyn Clock,
    plan: Plan<'_>,
    produce: P,
    mut progress: impl FnMut(&Counts),
) -> Result<Summary, SyncError>
where
    P: FnOnce(i64, &mut Emit<'_>) -> Result<(), SyncError> + Send,
{
    let started = start(conn, clock.now().naive_utc(), plan)?;
    let run = started.run;
    let mut counts = started.counts;
    let phase = std::time::Instant::now();
    let mut known = match Known::load(conn, run) {
        Ok(k) => {
            tracing::info!(
                records = k.map.len(),
                ms = phase.elapsed().as_millis() as u64,
                "stored records loaded"
            );
            k
        }
        Err(e) => {
            let e = SyncError::from(e);
            finish(conn, clock, run, plan, counts, Some(&e))?;
            return Err(e);
        }
    };
    let from = started.resumed_from.unwrap_or(0);

    let result = std::thread::scope(|scope| {
        // Two chunks in flight: the source reads ahead while one is written.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(2);
        let span = tracing::Span::current();
        let producer = scope.spawn(move || {
            span.in_scope(|| {
                let mut emit = |chunk: Chunk| tx.send(chunk).is_ok();
                produce(from, &mut emit)
            })
        });
        let written = (|| {
            for chunk in rx.iter() {
                write_chunk(conn, clock, &mut known, run, plan, chunk, &mut counts)?;
                progress(&counts);
            }
            Ok::<_, SyncError>(())
        })();
        // Stop the source if the writer failed, then wait for it.
        drop(rx);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(SyncError::Source("the source thread panicked".into())));
        written.and(produced)
    });
    tracing::info!(
        ms = phase.elapsed().as_millis() as u64,
        "source read and written"
    );
    let result = result.and_then(|()| {
        if plan.full {
            let phase = std::time::Instant::now();
            let removed = mark_absent_removed(conn, &known, run, clock.now().naive_utc())?;
            counts.removed = count(removed);
            tracing::info!(
                removed,
                ms = phase.elapsed().as_millis() as u64,
                "absent records marked removed"
            );
        }
        Ok(())
    });
    finish(conn, clock, run, plan, counts, result.as_ref().err())?;
    result?;
    let rejections = rows::rejections(conn, run, REPORT_LIMIT)?;
    Ok(Summary {
        run,
        counts,
        rejections,
        resumed_from: started.resumed_from,
    })
}

fn finish(
    conn: &mut DbConnection,
    clock: &dyn Clock,
    run: i64,
    plan: Plan<'_>,
    counts: Counts,
    error: Option<&SyncError>,
) -> Result<(), SyncError> {
    let end = clock.now().naive_utc();
    write_tx(conn, |conn| {
        let listed = rows::rejections(conn, run, REPORT_LIMIT)?;
        let report = json!({
            "rejections": listed,
            "rejections_total": counts.rejected,
            "error": error.map(ToString::to_string),
        })
        .to_string();
        let status = if error.is_some() {
            "failed"
        } else {
            "succeeded"
        };
        rows::finish_run(conn, run, status, counts, &report, end)?;
        // A run that will not be resumed needs neither its seen list nor a resume offset.
        if error.is_none() || !plan.resumable {
            rows::clear_seen_of(conn, run)?;
            rows::checkpoint(conn, run, counts, None)?;
        }
        rows::unlock(conn, run)?;
        Ok::<_, SyncError>(())
    })
}

/// Reads JSON Lines (`schemas/frmr-person.schema.json`) in chunks of `batch`; the lines of a
/// chunk are parsed and checked on all cores (rayon), in order.
pub fn read_json_lines(
    mut input: impl BufRead,
    batch: usize,
    emit: &mut Emit<'_>,
) -> Result<(), SyncError> {
    use rayon::prelude::*;
    let mut line_no = 0u64;
    let mut lines: Vec<(u64, String)> = Vec::with_capacity(batch);
    let mut done = false;
    while !done {
        lines.clear();
        while lines.len() < batch {
            let mut text = String::new();
            if input.read_line(&mut text)? == 0 {
                done = true;
                break;
            }
            line_no += 1;
            if !text.trim().is_empty() {
                lines.push((line_no, text));
            }
        }
        if lines.is_empty() {
            break;
        }
        let parsed: Vec<Result<Record, Rejection>> = lines
            .par_iter()
            .map(|(n, text)| RegisterPerson::parse_line(*n, text).map(|p| Record::new(*n, p)))
            .collect();
        let mut chunk = Chunk {
            read: count(parsed.len()),
            ..Chunk::default()
        };
        for item in parsed {
            match item {
                Ok(rec) => chunk.records.push(rec),
                Err(rej) => chunk.rejected.push(rej),
            }
        }
        if !emit(chunk) {
            return Ok(());
        }
    }
    Ok(())
}

/// Reads a CSV export with the header [`super::record::CSV_HEADER`] in chunks of `batch`.
/// A header that differs stops the run before anything is written.
pub fn read_csv(input: impl Read, batch: usize, emit: &mut Emit<'_>) -> Result<(), SyncError> {
    use super::record::{CSV_HEADER, CsvPerson};
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| SyncError::Source(format!("cannot read the CSV header: {e}")))?
        .clone();
    if header.iter().map(str::trim).ne(CSV_HEADER) {
        return Err(SyncError::Source(format!(
            "the CSV header must be: {}",
            CSV_HEADER.join(",")
        )));
    }
    let mut chunk = Chunk::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                chunk.read += 1;
                let line = record.position().map_or(line, csv::Position::line);
                let parsed = if record.len() == CSV_HEADER.len() {
                    record
                        .deserialize::<CsvPerson>(Some(&header))
                        .map_err(|e| Rejection {
                            line,
                            code: "invalid_record",
                            reason: e.to_string(),
                        })
                        .and_then(|row| row.into_person(line))
                } else {
                    Err(Rejection {
                        line,
                        code: "unparseable_line",
                        reason: format!(
                            "{} fields, the header has {}",
                            record.len(),
                            CSV_HEADER.len()
                        ),
                    })
                };
                match parsed {
                    Ok(p) => chunk.records.push(Record::new(line, p)),
                    Err(rej) => chunk.rejected.push(rej),
                }
            }
            Err(e) if e.is_io_error() => {
                return Err(SyncError::Source(format!("cannot read the export: {e}")));
            }
            Err(e) => {
                chunk.read += 1;
                let line = e.position().map_or(line + 1, csv::Position::line);
                chunk.rejected.push(Rejection {
                    line,
                    code: "unparseable_line",
                    reason: e.to_string(),
                });
            }
        }
        if chunk.records.len() + chunk.rejected.len() >= batch && !emit(std::mem::take(&mut chunk))
        {
            return Ok(());
        }
    }
    if chunk.read > 0 {
        emit(chunk);
    }
    Ok(())
}

/// Runs a sync from JSON Lines (a whole export in hand, as tests and the demo have it).
pub fn from_json_lines(
    conn: &mut DbConnection,
    clock: &dyn Clock,
    source: &str,
    input: impl BufRead + Send,
    full: bool,
    progress: impl FnMut(&Counts),
) -> Result<Summary, SyncError> {
    let plan = Plan {
        source,
        full,
        resumable: false,
    };
    run(
        conn,
        clock,
        plan,
        |_, emit| read_json_lines(input, FILE_BATCH, emit),
        progress,
    )
}
