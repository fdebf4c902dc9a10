//! Recomputes every chain and checkpoint and names the first event that does not fit.

use super::chain::{GENESIS, expected_hash};
use super::checkpoint::merkle_root;
use crate::store::audit as rows;
use crate::store::{DbConnection, StoreError};
use std::collections::HashMap;
use std::fmt;

/// What is wrong with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The event's content does not match its hash.
    Altered {
        event_id: i64,
        chain: String,
        seq: i64,
    },
    /// Events are missing before this one in its chain.
    Removed {
        event_id: i64,
        chain: String,
        expected_seq: i64,
        found_seq: i64,
    },
    /// The event repeats or precedes a position already taken in its chain.
    InsertedOrReordered {
        event_id: i64,
        chain: String,
        seq: i64,
    },
    /// The event does not link to the previous event of its chain.
    BrokenLink {
        event_id: i64,
        chain: String,
        seq: i64,
    },
    /// A case's chain ends before the last event its row records.
    TruncatedChain {
        chain: String,
        expected_seq: i64,
        found_seq: i64,
    },
    /// The chain's last event is not the one its case row records: the chain was rewritten.
    HeadMismatch { event_id: i64, chain: String },
    /// A checkpoint no longer matches the events it covers.
    CheckpointMismatch {
        checkpoint_id: i64,
        first_event_id: i64,
        last_event_id: i64,
    },
}

impl Finding {
    /// The event concerned, when one can be named.
    pub fn event_id(&self) -> Option<i64> {
        match self {
            Finding::Altered { event_id, .. }
            | Finding::Removed { event_id, .. }
            | Finding::InsertedOrReordered { event_id, .. }
            | Finding::BrokenLink { event_id, .. }
            | Finding::HeadMismatch { event_id, .. } => Some(*event_id),
            Finding::TruncatedChain { .. } | Finding::CheckpointMismatch { .. } => None,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Altered {
                event_id,
                chain,
                seq,
            } => {
                write!(
                    f,
                    "event {event_id} (chain {chain}, seq {seq}) was altered: its hash does not match its content"
                )
            }
            Finding::Removed {
                event_id,
                chain,
                expected_seq,
                found_seq,
            } => write!(
                f,
                "events removed before event {event_id} (chain {chain}): expected seq {expected_seq}, found {found_seq}"
            ),
            Finding::InsertedOrReordered {
                event_id,
                chain,
                seq,
            } => {
                write!(
                    f,
                    "event {event_id} (chain {chain}, seq {seq}) was inserted or reordered"
                )
            }
            Finding::BrokenLink {
                event_id,
                chain,
                seq,
            } => write!(
                f,
                "event {event_id} (chain {chain}, seq {seq}) does not link to the previous event: an event before it was removed, inserted or reordered"
            ),
            Finding::HeadMismatch { event_id, chain } => write!(
                f,
                "event {event_id} ends chain {chain} but is not the event its case records: the chain was rewritten"
            ),
            Finding::TruncatedChain {
                chain,
                expected_seq,
                found_seq,
            } => write!(
                f,
                "chain {chain} ends at seq {found_seq} but its case records seq {expected_seq}: events were removed from its end"
            ),
            Finding::CheckpointMismatch {
                checkpoint_id,
                first_event_id,
                last_event_id,
            } => write!(
                f,
                "checkpoint {checkpoint_id} (events {first_event_id}..={last_event_id}) does not match: events in its range were altered, removed or inserted"
            ),
        }
    }
}

/// Result of a verification run.
#[derive(Debug, Default)]
pub struct Report {
    /// Events checked.
    pub events: u64,
    /// Chains checked.
    pub chains: usize,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// Everything found, the first (by event order) first.
    pub findings: Vec<Finding>,
}

struct ChainState {
    seq: i64,
    hash: String,
    last_id: i64,
}

const PAGE: i64 = 5_000;

/// Verifies all chains and checkpoints, reading events page by page, on one consistent
/// snapshot so that writes committing meanwhile cannot look like tampering.
pub fn run(conn: &mut DbConnection) -> Result<Report, StoreError> {
    crate::store::snapshot_tx(conn, run_on_snapshot)
}

fn run_on_snapshot(conn: &mut DbConnection) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let mut chains: HashMap<String, ChainState> = HashMap::new();
    let mut after = 0;
    loop {
        let page = rows::page(conn, after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in &page {
            report.events += 1;
            let recomputed =
                expected_hash(e).map_err(|err| StoreError::Corrupt(err.to_string()))?;
            let state = chains.get(&e.chain);
            let (want_seq, want_prev) =
                state.map_or((1, GENESIS), |s| (s.seq + 1, s.hash.as_str()));
            let finding = if recomputed != e.hash {
                Some(Finding::Altered {
                    event_id: e.id,
                    chain: e.chain.clone(),
                    seq: e.seq,
                })
            } else if e.seq < want_seq {
                Some(Finding::InsertedOrReordered {
                    event_id: e.id,
                    chain: e.chain.clone(),
                    seq: e.seq,
                })
            } else if e.seq > want_seq {
                Some(Finding::Removed {
                    event_id: e.id,
                    chain: e.chain.clone(),
                    expected_seq: want_seq,
                    found_seq: e.seq,
                })
            } else if e.prev_hash != want_prev {
                Some(Finding::BrokenLink {
                    event_id: e.id,
                    chain: e.chain.clone(),
                    seq: e.seq,
                })
            } else {
                None
            };
            report.findings.extend(finding);
            chains.insert(
                e.chain.clone(),
                ChainState {
                    seq: e.seq.max(want_seq - 1),
                    hash: e.hash.clone(),
                    last_id: e.id,
                },
            );
        }
    }
    report.chains = chains.len();

    for (case_id, audit_seq, audit_head) in rows::case_heads(conn)? {
        let state = chains.get(&case_id);
        let found = state.map_or(0, |s| s.seq);
        if let Some(s) = state.filter(|s| s.seq == audit_seq && s.hash != audit_head) {
            report.findings.push(Finding::HeadMismatch {
                event_id: s.last_id,
                chain: case_id,
            });
        } else if found < audit_seq {
            report.findings.push(Finding::TruncatedChain {
                chain: case_id,
                expected_seq: audit_seq,
                found_seq: found,
            });
        } else if found > audit_seq {
            let event_id = rows::id_at(conn, &case_id, audit_seq + 1)?.unwrap_or(i64::MAX);
            report.findings.push(Finding::InsertedOrReordered {
                event_id,
                chain: case_id,
                seq: audit_seq + 1,
            });
        }
    }

    let mut previous_last = 0;
    for cp in rows::checkpoints(conn)? {
        report.checkpoints += 1;
        let events = rows::hashes_between(conn, previous_last, cp.last_event_id)?;
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let starts_right = events
            .first()
            .is_some_and(|(id, _)| *id == cp.first_event_id);
        if count != cp.event_count || !starts_right || merkle_root(&events) != cp.merkle_root {
            report.findings.push(Finding::CheckpointMismatch {
                checkpoint_id: cp.id,
                first_event_id: cp.first_event_id,
                last_event_id: cp.last_event_id,
            });
        }
        previous_last = cp.last_event_id;
    }
    report
        .findings
        .sort_by_key(|f| f.event_id().unwrap_or(i64::MAX));
    Ok(report)
}
