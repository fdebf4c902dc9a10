//! Running a transition, one fixed flow: replay → load → check_transition → needs → facts →
//! guards → effects → commit. The same flow runs a user's request and a timer's transition.

use super::access::{Visible, load_visible};
use super::cases::{CaseDto, to_dto};
use super::effects::{self, CasePatch, EffectContext};
use super::facts::{SignatureInput, Subject, gather};
use super::{Change, Extras, Rules, ServiceError, Step, apply_staged, stage_change};
use crate::engine::decision::Decision;
use crate::engine::definition::{Sla, Transition};
use crate::engine::guards;
use crate::engine::{Actor, TransitionError, check_system_transition, check_transition};
use crate::registry::check::Checked;
use crate::store::cases::Case;
use crate::store::commit::Fired;
use crate::store::conn::more_writes_tx;
use crate::store::idempotency::{self, Remembered};
use crate::store::{DbConnection, StoreError, single_write_tx};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// A request to run a transition.
#[derive(Debug, Clone)]
pub struct Request {
    /// The case.
    pub case_id: String,
    /// Transition name.
    pub name: String,
    /// Reason, when given.
    pub reason: Option<String>,
    /// Version from `If-Match`.
    pub if_match: Option<i64>,
    /// `Idempotency-Key`, when sent.
    pub idempotency_key: Option<String>,
    /// Fingerprint of the request (case, transition, body), to refuse a reused key.
    pub fingerprint: String,
    /// The detached electronic signature sent with it (DER, PEM or base64), if any.
    pub signature: Option<Vec<u8>>,
    /// What a commission member's decision says (reasons, recommendations, fixes).
    pub decision: Decision,
}

/// What happened.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The transition ran now.
    Done(CaseDto),
    /// The same request ran before; this is its result.
    Replayed(CaseDto),
}

fn replay(
    conn: &mut DbConnection,
    actor: &Actor,
    req: &Request,
) -> Result<Option<Outcome>, ServiceError> {
    let Some(key) = &req.idempotency_key else {
        return Ok(None);
    };
    let Some(r) = idempotency::find(conn, actor.user.as_str(), key)? else {
        return Ok(None);
    };
    if r.request_hash != req.fingerprint {
        return Err(ServiceError::IdempotencyKeyReused);
    }
    let dto: CaseDto = serde_json::from_str::<Value>(&r.response)
        .and_then(serde_json::from_value)
        .map_err(|e| StoreError::Corrupt(format!("remembered response: {e}")))?;
    Ok(Some(Outcome::Replayed(dto)))
}

/// Runs the transition, or replays the result of an identical earlier request.
pub fn run(
    conn: &mut DbConnection,
    rules: Rules<'_>,
    actor: &Actor,
    req: &Request,
    clock_now: DateTime<Utc>,
) -> Result<Outcome, ServiceError> {
    if let Some(done) = replay(conn, actor, req)? {
        return Ok(done);
    }
    let expected = req.if_match.ok_or(ServiceError::PreconditionRequired)?;
    // The applicant's register check, when the transition's guards made one: kept on the case
    // and audited whether the transition then ran or not.
    let mut checked = None;
    let result = single_write_tx(conn, |conn| {
        let v = load_visible(conn, rules.catalog, actor, &req.case_id)?;
        if v.case.version != expected {
            return Err(ServiceError::VersionConflict {
                current: v.case.version,
            });
        }
        let reason = trimmed(req.reason.as_deref());
        let view = v.view();
        let def = &v.workflow.definition;
        let t = check_transition(def, view, actor, &req.name, reason).map_err(|e| label(def, e))?;
        let m = Move {
            actor: Some(actor),
            t,
            reason,
            signature: req.signature.as_deref(),
            fired: None,
            decision: &req.decision,
        };
        // The response remembered for a retried request is the one returned: built once.
        let mut built: Option<CaseDto> = None;
        let respond = |next: &Case| -> Result<Option<Remembered>, ServiceError> {
            let Some(key) = &req.idempotency_key else {
                return Ok(None);
            };
            let dto = built.insert(to_dto(&v.with(next.clone()), actor, clock_now)?);
            Ok(Some(Remembered {
                user_id: actor.user.to_string(),
                idem_key: key.clone(),
                request_hash: req.fingerprint.clone(),
                case_id: req.case_id.clone(),
                response: serde_json::to_string(dto)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                created_at: clock_now.naive_utc(),
            }))
        };
        let next = advance(conn, &v, m, rules, clock_now, &mut checked, respond)?;
        match built {
            Some(dto) => Ok(dto),
            None => to_dto(&v.with(next), actor, clock_now),
        }
    });
    if let Some((owner, c)) = &checked {
        let at = clock_now.naive_utc();
        let source = format!("transition:{}", req.name);
        crate::registry::check::record_for_case(conn, &req.case_id, owner, c, &source, at)?;
    }
    match result {
        Ok(dto) => Ok(Outcome::Done(dto)),
        // A concurrent identical request may have won: answer with its result.
        Err(e @ ServiceError::VersionConflict { .. }) => match replay(conn, actor, req)? {
            Some(done) => Ok(done),
            None => Err(e),
        },
        Err(ServiceError::Store(e)) if e.is_conflict() => match replay(conn, actor, req)? {
            Some(done) => Ok(done),
            None => Err(ServiceError::Store(e)),
        },
        Err(e) => Err(e),
    }
}

/// Runs the system transition a timer fires (its `transition`, with its `reason`) on the case
/// as loaded in the caller's transaction; the commit marks the timer fired, and writes nothing if it is no
/// longer pending.
pub fn run_for_timer(
    conn: &mut DbConnection,
    v: &Visible,
    timer: &crate::store::timers::Timer,
    fired: Fired,
    rules: Rules<'_>,
    clock_now: DateTime<Utc>,
) -> Result<Case, ServiceError> {
    let def = &v.workflow.definition;
    let name = timer.transition.as_deref().unwrap_or_default();
    let reason = trimmed(timer.reason.as_deref());
    let t = check_system_transition(def, &v.case.state, name, reason).map_err(|e| label(def, e))?;
    let none = Decision::default();
    let m = Move {
        actor: None,
        t,
        reason,
        signature: None,
        fired: Some(fired),
        decision: &none,
    };
    let mut checked = None;
    advance(conn, v, m, rules, clock_now, &mut checked, |_| Ok(None))
}

/// Runs transition `name` as `actor` on the case as loaded in the caller's write transaction,
/// as a consequence of another change in it (the author's message that answers a question):
/// the same checks, guards and effects as a request, without its version precondition or
/// idempotency key (the caller's change carries those).
pub fn run_within(
    conn: &mut DbConnection,
    v: &Visible,
    rules: Rules<'_>,
    actor: &Actor,
    name: &str,
    clock_now: DateTime<Utc>,
) -> Result<Case, ServiceError> {
    let def = &v.workflow.definition;
    let t = check_transition(def, v.view(), actor, name, None).map_err(|e| label(def, e))?;
    let none = Decision::default();
    let m = Move {
        actor: Some(actor),
        t,
        reason: None,
        signature: None,
        fired: None,
        decision: &none,
    };
    let mut checked = None;
    advance(conn, v, m, rules, clock_now, &mut checked, |_| Ok(None))
}

fn trimmed(reason: Option<&str>) -> Option<&str> {
    reason.map(str::trim).filter(|r| !r.is_empty())
}

fn label(def: &crate::engine::definition::Definition, e: TransitionError) -> TransitionError {
    match e {
        TransitionError::WrongState(s) => TransitionError::WrongState(def.label_of(&s).to_owned()),
        other => other,
    }
}

/// A checked transition about to run.
struct Move<'a> {
    /// Who runs it; `None` for the system.
    actor: Option<&'a Actor>,
    t: &'a Transition,
    reason: Option<&'a str>,
    signature: Option<&'a [u8]>,
    /// The timer running it.
    fired: Option<Fired>,
    /// What the decision says.
    decision: &'a Decision,
}

/// Needs → facts → guards → effects → commit, for a case loaded and checked at its version.
fn advance(
    conn: &mut DbConnection,
    v: &Visible,
    m: Move<'_>,
    rules: Rules<'_>,
    clock_now: DateTime<Utc>,
    checked: &mut Option<(String, Checked)>,
    remember: impl FnOnce(&Case) -> Result<Option<Remembered>, ServiceError>,
) -> Result<Case, ServiceError> {
    let (case, t, signing) = (&v.case, m.t, rules.signing);
    let def = &v.workflow.definition;
    let form: Value = serde_json::from_str(&case.form_data)
        .map_err(|e| StoreError::Corrupt(format!("form of case {}: {e}", case.id)))?;
    let needs = guards::needs(&t.guards);
    let subject = Subject {
        case,
        workflow: &v.workflow,
        form: &form,
        signature: Some(SignatureInput {
            signing,
            bytes: m.signature,
            now: clock_now,
        }),
        actor: m.actor.map(|a| a.user.as_str()),
        transition: Some((t.name.as_str(), t.label.as_str())),
        decision: Some((m.decision, rules.catalog.reasons())),
    };
    let gathered = gather(conn, subject, &needs)?;
    if let Some(c) = &gathered.checked {
        *checked = Some((case.owner_id.clone(), c.clone()));
    }
    let failures = guards::evaluate(&t.guards, &gathered.facts);
    for f in &failures {
        crate::metrics::get()
            .guard_refusals
            .get_or_create(&crate::metrics::GuardLabels {
                guard: f.guard.to_owned(),
                code: f.code.to_owned(),
            })
            .inc();
    }
    if !failures.is_empty() {
        return Err(ServiceError::Guards(failures));
    }
    let mut payload =
        json!({"transition": t.name, "from": case.state, "to": t.to, "reason": m.reason});
    if let Some(r) = &gathered.facts.registry {
        payload["registry"] = json!(r.code);
    }
    if let Some(f) = &m.fired {
        payload["timer"] = json!({"id": f.timer_id, "lateness_ms": f.lateness_ms});
    }
    let (leaving, entering) = def.effects_of(&case.state, t);
    // Every step's start is counted by it, with the operator's overrides.
    let calendar = super::calendar::load(conn, signing.intake)?;
    let start = calendar.next_working_moment(clock_now);
    let classed = |set: &crate::engine::attributes::Values| {
        let stored = crate::engine::attributes::merged(&case.attributes, set);
        crate::engine::attributes::resolve(&def.attributes, &stored, &form)
    };
    let step = plan_step(
        &calendar,
        def.deadline_of(t, &classed(&Default::default())),
        start,
    );
    let write = |conn: &mut DbConnection| -> Result<Case, ServiceError> {
        let mut extras = Extras {
            fired: m.fired,
            ..Extras::default()
        };
        let mut cx = EffectContext {
            case,
            form: &form,
            step,
            calendar: &calendar,
            extras: &mut extras,
            workflow: &v.workflow,
            transition: t,
            accepted: gathered.accepted.as_ref(),
            signing,
            notices: rules.notices,
            actor: m.actor,
            reason: m.reason,
            now: clock_now,
            registered_at: start.value,
            payload: &mut payload,
            decision: m.decision,
            patch: CasePatch::default(),
            record: None,
            reasons: rules.catalog.reasons(),
        };
        effects::run(conn, &leaving, &mut cx)?;
        // The step's norm, as the effects before have classed the case.
        let step = plan_step(
            &calendar,
            def.deadline_of(t, &classed(&cx.patch.attributes)),
            start,
        );
        cx.step = step;
        effects::run(conn, &entering, &mut cx)?;
        let patch = cx.patch;
        let change = Change {
            submitted: crate::engine::submits(def, &case.state, t),
            state: Some(t.to.clone()),
            form_data: None,
            kind: "case.transition",
            payload,
            step: Some(step),
        };
        let mut staged = stage_change(case, case.version, change, m.actor, clock_now.naive_utc());
        patch.apply(&mut staged.next);
        staged.next.step_transition = Some(t.name.clone());
        extras.closed_step = super::steps::closed(
            &calendar,
            def,
            case,
            &staged.next,
            staged.event.seq,
            clock_now,
        );
        extras.remember = remember(&staged.next)?;
        apply_staged(conn, staged, &extras)
    };
    // Effects that write rows themselves need the commit in a transaction; the others only add
    // to the one atomic commit.
    if effects::write_rows(&leaving)? || effects::write_rows(&entering)? {
        more_writes_tx(conn, |conn| {
            // The case's row first (the order every writer takes), and still at the version
            // it was checked at: a concurrent transition that won has changed it.
            match crate::store::cases::lock_version(conn, &case.id)? {
                Some(current) if current == case.version => write(conn),
                Some(current) => Err(ServiceError::VersionConflict { current }),
                None => Err(ServiceError::CaseNotFound),
            }
        })
    } else {
        write(conn)
    }
}

/// A step with this norm: it begins at `start` (the next opening by the production calendar;
/// for a submission, its registration moment, which the receipt shows) and, with a norm, is
/// due so many working days (or minutes of working time) on.
pub(crate) fn plan_step(
    calendar: &crate::domain::calendar::Calendar,
    norm: Option<Sla>,
    start: crate::domain::calendar::Dated<DateTime<Utc>>,
) -> Step {
    let (due, due_at) = match norm {
        None => (None, None),
        Some(Sla::WorkingDays(days)) => {
            let local = crate::domain::calendar::moscow(start.value).date();
            let due = calendar.add_working_days(local, days);
            (
                Some((due.value, due.provisional || start.provisional)),
                None,
            )
        }
        Some(Sla::WorkingMinutes(minutes)) => {
            let at = calendar.add_working_minutes(start.value, minutes);
            let date = crate::domain::calendar::moscow(at.value).date();
            let provisional = at.provisional || start.provisional;
            (Some((date, provisional)), Some(at.value.naive_utc()))
        }
    };
    Step {
        started_at: start.value.naive_utc(),
        due,
        due_at,
    }
}
