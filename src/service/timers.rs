//! Firing due timers, each exactly once. A worker claims a batch of due timers, then fires each
//! in the same transaction as its effect: a system transition (the state's `on_deadline`) or
//! an escalation of the breached deadline (a flag on the case and an audit event). Firing is a
//! conditional update of the timer inside the case's commit, so a timer fired by another
//! worker, or cancelled meanwhile, writes nothing.
//!
//! PostgreSQL claims with `FOR UPDATE SKIP LOCKED` in the transaction that fires: several
//! instances take disjoint batches, and a worker that dies before its commit leaves its timers
//! locked only until its connection goes, then due again. SQLite, one writer at a time, claims
//! with a lease (`lease_owner`, `lease_until`) written in a short transaction and fires each
//! timer in its own; a dead worker's lease runs out and the timers are due again.

use super::access::load;
use super::{Change, Extras, ServiceError, apply_staged, stage_change};
use crate::domain::clock::Clock;
use crate::engine::catalog::Catalog;
use crate::signature::Signing;
use crate::store::commit::Fired;
use crate::store::timers::{self as rows, Timer};
use crate::store::{DbConnection, StoreError, write_tx};
use chrono::{DateTime, Utc};
use serde_json::json;

/// How long a SQLite lease holds a claimed timer.
pub const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Timers claimed.
    pub claimed: usize,
    /// Fired: their transition ran or the breach was escalated.
    pub fired: usize,
    /// Found pointless (the case had left the timer's state): closed without an effect.
    pub stale: usize,
    /// Their transition was refused (a guard, a state): closed with the refusal.
    pub failed: usize,
}

impl std::ops::AddAssign for Report {
    fn add_assign(&mut self, o: Self) {
        self.claimed += o.claimed;
        self.fired += o.fired;
        self.stale += o.stale;
        self.failed += o.failed;
    }
}

/// Claims up to `batch` timers due by `clock` and fires them, each at the clock's reading
/// when it fires (its lateness). `owner` names this worker in SQLite leases.
pub fn run_due(
    conn: &mut DbConnection,
    catalog: &Catalog,
    signing: &Signing,
    owner: &str,
    batch: i64,
    clock: &dyn Clock,
) -> Result<Report, ServiceError> {
    let now = clock.now();
    match conn {
        DbConnection::Pg(_) => write_tx(conn, |conn| {
            let due = rows::claim_locked(conn, now.naive_utc(), batch)?;
            fire_all(conn, catalog, signing, &due, clock)
        }),
        DbConnection::Sqlite(_) => {
            let due = write_tx(conn, |conn| {
                rows::claim_leased(
                    conn,
                    owner,
                    now.naive_utc(),
                    (now + LEASE).naive_utc(),
                    batch,
                )
                .map_err(StoreError::from)
            })?;
            let mut report = Report {
                claimed: due.len(),
                ..Report::default()
            };
            for timer in &due {
                report += write_tx(conn, |conn| {
                    // Still ours and pending: another worker whose lease we outlived may have
                    // fired it.
                    if !rows::holds_lease(conn, &timer.id, owner)? {
                        return Ok(Report::default());
                    }
                    fire_one(conn, catalog, signing, timer, clock.now())
                })?;
            }
            Ok(report)
        }
    }
}

/// Runs passes until no due timer is left (or `max_passes`); the sum of what they did.
pub fn drain(
    conn: &mut DbConnection,
    catalog: &Catalog,
    signing: &Signing,
    owner: &str,
    batch: i64,
    clock: &dyn Clock,
    max_passes: usize,
) -> Result<Report, ServiceError> {
    let mut total = Report::default();
    for _ in 0..max_passes {
        let r = run_due(conn, catalog, signing, owner, batch, clock)?;
        total += r;
        if r.claimed < usize::try_from(batch).unwrap_or(usize::MAX) {
            break;
        }
    }
    Ok(total)
}

fn fire_all(
    conn: &mut DbConnection,
    catalog: &Catalog,
    signing: &Signing,
    due: &[Timer],
    clock: &dyn Clock,
) -> Result<Report, ServiceError> {
    let mut report = Report {
        claimed: due.len(),
        ..Report::default()
    };
    for timer in due {
        // Each firing in a savepoint: one that fails for storage reasons is retried on the next
        // pass without undoing the others.
        report += write_tx(conn, |conn| {
            fire_one(conn, catalog, signing, timer, clock.now())
        })?;
    }
    Ok(report)
}

/// Fires one claimed timer in the caller's transaction.
fn fire_one(
    conn: &mut DbConnection,
    catalog: &Catalog,
    signing: &Signing,
    timer: &Timer,
    now: DateTime<Utc>,
) -> Result<Report, ServiceError> {
    // An earlier firing in this pass may have ended it (a final state cancels the procedure's
    // timer claimed in the same batch).
    if !rows::is_pending(conn, &timer.id)? {
        return Ok(Report::default());
    }
    let at = now.naive_utc();
    let lateness_ms = (at - timer.due_at).num_milliseconds().max(0);
    let v = load(conn, catalog, &timer.case_id)?;
    // A step timer whose case left the state, or any timer of a finished case (only if a
    // workflow lacks `cancel_timers` where it should), does nothing.
    let finished = v
        .workflow
        .definition
        .state(&v.case.state)
        .is_some_and(|s| s.r#final);
    if (timer.scope == "step" && v.case.state != timer.state) || finished {
        rows::close(conn, &timer.id, "stale", "state_left", at, lateness_ms)?;
        return Ok(Report {
            stale: 1,
            ..Report::default()
        });
    }
    let fired = |outcome: String| Fired {
        timer_id: timer.id.clone(),
        fired_at: at,
        lateness_ms,
        outcome,
    };
    match (timer.action.as_str(), timer.transition.as_deref()) {
        ("transition", Some(name)) => {
            let fired = fired(format!("transition:{name}"));
            let result = super::transition::run_for_timer(conn, &v, timer, fired, signing, now);
            match result {
                Ok(_) => Ok(Report {
                    fired: 1,
                    ..Report::default()
                }),
                Err(e @ (ServiceError::Guards(_) | ServiceError::Transition(_))) => {
                    let code = refusal_code(&e);
                    rows::close(conn, &timer.id, "failed", &code, at, lateness_ms)?;
                    tracing::warn!(timer = %timer.id, case = %timer.case_id, code, "timer transition refused");
                    Ok(Report {
                        failed: 1,
                        ..Report::default()
                    })
                }
                Err(e) => Err(e),
            }
        }
        ("escalate", _) => {
            let case = &v.case;
            let (due_on, kind) = match timer.scope.as_str() {
                "procedure" => (case.procedure_due_on, "procedure"),
                _ => (case.due_on, "step"),
            };
            let change = Change {
                state: None,
                form_data: None,
                submitted: false,
                kind: "case.deadline_breached",
                payload: json!({
                    "scope": kind,
                    "state": case.state,
                    "due_on": due_on,
                    "timer": {"id": timer.id, "lateness_ms": lateness_ms},
                }),
                step: None,
            };
            let mut staged = stage_change(case, case.version, change, None, at);
            if kind == "procedure" {
                staged.next.procedure_breached_at = Some(at);
            } else {
                staged.next.breached_at = Some(at);
            }
            let extras = Extras {
                fired: Some(fired("escalated".into())),
                ..Extras::default()
            };
            apply_staged(conn, staged, &extras)?;
            Ok(Report {
                fired: 1,
                ..Report::default()
            })
        }
        _ => {
            Err(StoreError::Corrupt(format!("timer {} has no action it can run", timer.id)).into())
        }
    }
}

fn refusal_code(e: &ServiceError) -> String {
    match e {
        ServiceError::Guards(failures) => failures
            .iter()
            .map(|f| f.code.to_string())
            .collect::<Vec<_>>()
            .join(","),
        ServiceError::Transition(t) => format!("transition_refused: {t}"),
        other => other.to_string(),
    }
}
