//! Firing due timers, each exactly once. A worker leases a batch of due timers in one short
//! transaction (on PostgreSQL choosing them with `FOR UPDATE SKIP LOCKED`, so instances take
//! disjoint batches), then fires each in a transaction of its own, together with its effect:
//! a system transition (the state's `on_deadline`) or an escalation of the breached deadline
//! (a flag on the case and an audit event). The firing locks the case row first, as every
//! transition does, so a worker and a request never wait on each other in opposite orders;
//! and it is a conditional update of the timer inside the case's commit, so a timer fired by
//! another worker, or cancelled meanwhile, writes nothing.
//!
//! A worker that dies after its claim leaves its timers leased until the lease runs out, then
//! due again. A firing that fails (storage, a corrupt row) rolls back alone, is retried with
//! exponential backoff, and is closed as `failed` after [`MAX_ATTEMPTS`]; the rest of the batch
//! goes on.

use super::access::load;
use super::{Change, Extras, Rules, ServiceError, apply_staged, stage_change};
use crate::domain::clock::Clock;
use crate::store::commit::Fired;
use crate::store::timers::{self as rows, Timer};
use crate::store::{DbConnection, StoreError, write_tx};
use chrono::{DateTime, Utc};
use serde_json::json;

/// How long a lease holds claimed timers.
pub const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Failed firings before a timer is given up (closed as `failed`).
pub const MAX_ATTEMPTS: i32 = 8;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Timers claimed.
    pub claimed: usize,
    /// Fired: their transition ran or the breach was escalated.
    pub fired: usize,
    /// Found pointless (the case had left the timer's state): closed without an effect.
    pub stale: usize,
    /// Closed as failed: their transition was refused, or they failed too often.
    pub failed: usize,
    /// Failed this time, to be retried.
    pub retried: usize,
}

impl std::ops::AddAssign for Report {
    fn add_assign(&mut self, o: Self) {
        self.claimed += o.claimed;
        self.fired += o.fired;
        self.stale += o.stale;
        self.failed += o.failed;
        self.retried += o.retried;
    }
}

/// The pause before retry number `attempt` (1-based): about 2, 4, 8 … seconds (jittered:
/// [`crate::domain::backoff`]), at most an hour.
fn backoff(attempt: i32) -> chrono::TimeDelta {
    let wait = crate::domain::backoff::jittered(
        std::time::Duration::from_secs(2),
        std::time::Duration::from_secs(3_600),
        attempt.max(1).unsigned_abs(),
    );
    chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::hours(1))
}

/// Claims up to `batch` timers due by `clock` and fires them, each at the clock's reading
/// when it fires (its lateness). `owner` names this worker in the leases.
pub fn run_due(
    conn: &mut DbConnection,
    rules: Rules<'_>,
    owner: &str,
    batch: i64,
    clock: &dyn Clock,
) -> Result<Report, ServiceError> {
    let now = clock.now();
    let due = write_tx(conn, |conn| {
        rows::claim(
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
        let at = clock.now();
        let fired = write_tx(conn, |conn| {
            if !rows::lock_for_firing(conn, &timer.case_id, &timer.id, owner)? {
                return Ok(Report::default());
            }
            fire_one(conn, rules, timer, at)
        });
        match fired {
            Ok(r) => report += r,
            // Rolled back alone: retried later, the batch goes on.
            Err(e) => {
                let attempt = timer.attempts + 1;
                let give_up = attempt >= MAX_ATTEMPTS;
                let error = e.to_string();
                let retry_at = (at + backoff(attempt)).naive_utc();
                write_tx(conn, |conn| {
                    rows::retry_later(conn, timer, owner, &error, retry_at, give_up)
                        .map_err(StoreError::from)
                })?;
                tracing::error!(timer = %timer.id, case = %timer.case_id, attempt, give_up, error, "timer firing failed");
                if give_up {
                    report.failed += 1;
                } else {
                    report.retried += 1;
                }
            }
        }
    }
    Ok(report)
}

/// Runs passes until no due timer is left (or `max_passes`); the sum of what they did.
pub fn drain(
    conn: &mut DbConnection,
    rules: Rules<'_>,
    owner: &str,
    batch: i64,
    clock: &dyn Clock,
    max_passes: usize,
) -> Result<Report, ServiceError> {
    let mut total = Report::default();
    for _ in 0..max_passes {
        let r = run_due(conn, rules, owner, batch, clock)?;
        total += r;
        if r.claimed < usize::try_from(batch).unwrap_or(usize::MAX) {
            break;
        }
    }
    Ok(total)
}

/// Fires one claimed timer in the caller's transaction.
fn fire_one(
    conn: &mut DbConnection,
    rules: Rules<'_>,
    timer: &Timer,
    now: DateTime<Utc>,
) -> Result<Report, ServiceError> {
    let at = now.naive_utc();
    let lateness_ms = (at - timer.due_at).num_milliseconds().max(0);
    let v = load(conn, rules.catalog, &timer.case_id)?;
    // A step timer whose case left the state, or any timer of a finished case (only if a
    // workflow lacks `cancel_timers` where it should), does nothing.
    let finished = v
        .workflow
        .definition
        .state(&v.case.state)
        .is_some_and(|s| s.r#final);
    let of_step = matches!(timer.scope.as_str(), "step" | "escalation" | "warning");
    if (of_step && v.case.state != timer.state) || finished {
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
            let result = super::transition::run_for_timer(conn, &v, timer, fired, rules, now);
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
        ("warn", _) => {
            super::warnings::warn(conn, rules, &v, fired("warned".into()), now)?;
            Ok(Report {
                fired: 1,
                ..Report::default()
            })
        }
        ("escalate", _) => {
            let case = &v.case;
            let (due_on, provisional, kind) = match timer.scope.as_str() {
                "procedure" => (
                    case.procedure_due_on,
                    case.procedure_due_provisional,
                    "procedure",
                ),
                "escalation" => (case.due_on, case.due_provisional, "escalation"),
                _ => (case.due_on, case.due_provisional, "step"),
            };
            // What the state says: its timed escalation, or what a breach does (the state the
            // timer was started for).
            let def = &v.workflow.definition;
            let state = def.state(&timer.state);
            let name = match kind {
                "escalation" => state
                    .and_then(|s| s.escalate.as_ref())
                    .map(|e| e.to.as_str()),
                _ => state.map(|s| s.on_breach.as_str()),
            }
            .unwrap_or(crate::engine::escalations::DEFAULT);
            let breach = super::escalations::Breach {
                case: &v,
                scope: kind,
                due: due_on.map(|d| (d, provisional)),
                now,
            };
            let escalated = super::escalations::run(conn, rules, name, &breach)?;
            let mut payload = json!({
                "scope": kind,
                "state": case.state,
                "due_on": due_on,
                "timer": {"id": timer.id, "lateness_ms": lateness_ms},
            });
            if let Some(p) = payload.as_object_mut() {
                p.extend(escalated.payload);
            }
            let change = Change {
                state: None,
                form_data: None,
                submitted: false,
                // A timed escalation is no breach: the case is not flagged.
                kind: if kind == "escalation" {
                    "case.escalated"
                } else {
                    "case.deadline_breached"
                },
                payload,
                step: None,
            };
            let mut staged = stage_change(case, case.version, change, None, at);
            match kind {
                "procedure" => staged.next.procedure_breached_at = Some(at),
                "step" => staged.next.breached_at = Some(at),
                _ => {}
            }
            if let Some(a) = escalated.assignee {
                staged.next.assignee_id = Some(a);
            }
            let extras = Extras {
                fired: Some(fired("escalated".into())),
                notifications: escalated.notifications,
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
