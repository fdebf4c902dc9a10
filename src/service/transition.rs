//! Running a transition: engine rules, guards, then one atomic, version-checked write of the
//! new state, its audit event and (for retries) the remembered response.

use super::access::{Visible, load_visible};
use super::cases::{CaseDto, to_dto};
use super::effects::{self, EffectContext};
use super::facts::{SignatureInput, Subject, gather};
use super::{Change, ServiceError, Step, apply_staged, stage_change};
use crate::engine::catalog::Catalog;
use crate::engine::guards;
use crate::engine::{Actor, check_transition};
use crate::signature::Signing;
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
    catalog: &Catalog,
    actor: &Actor,
    req: &Request,
    signing: &Signing,
    clock_now: DateTime<Utc>,
) -> Result<Outcome, ServiceError> {
    if let Some(done) = replay(conn, actor, req)? {
        return Ok(done);
    }
    let expected = req.if_match.ok_or(ServiceError::PreconditionRequired)?;
    let now = clock_now.naive_utc();
    // The applicant's register check, when the transition's guards made one: kept on the case
    // and audited whether the transition then ran or not.
    let mut checked: Option<(String, crate::registry::check::Checked)> = None;
    let result = single_write_tx(conn, |conn| {
        let Visible {
            case,
            workflow,
            owner,
        } = load_visible(conn, catalog, actor, &req.case_id)?;
        if case.version != expected {
            return Err(ServiceError::VersionConflict {
                current: case.version,
            });
        }
        let view = crate::engine::CaseView {
            state: &case.state,
            owner: &owner,
            submitted: case.submitted_at.is_some(),
        };
        let reason = req
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let def = &workflow.definition;
        let t = check_transition(def, view, actor, &req.name, reason).map_err(|e| match e {
            crate::engine::TransitionError::WrongState(s) => {
                crate::engine::TransitionError::WrongState(def.label_of(&s).to_owned())
            }
            other => other,
        })?;
        let form: Value = serde_json::from_str(&case.form_data)
            .map_err(|e| StoreError::Corrupt(format!("form of case {}: {e}", case.id)))?;
        let needs = guards::needs(&t.guards);
        let subject = Subject {
            case: &case,
            workflow: &workflow,
            form: &form,
            signature: Some(SignatureInput {
                signing,
                bytes: req.signature.as_deref(),
                now: clock_now,
            }),
        };
        let gathered = gather(conn, subject, &needs)?;
        if let Some(c) = &gathered.checked {
            checked = Some((case.owner_id.clone(), c.clone()));
        }
        let failures = guards::evaluate(&t.guards, &gathered.facts);
        if !failures.is_empty() {
            return Err(ServiceError::Guards(failures));
        }
        let mut payload =
            json!({"transition": t.name, "from": case.state, "to": t.to, "reason": reason});
        if let Some(r) = &gathered.facts.registry {
            payload["registry"] = json!(r.code);
        }
        let accepted = gathered.accepted;
        let submitted = crate::engine::submits(def, &case.state, t);
        // The step this transition starts begins at the next opening by the production
        // calendar (for a submission, its registration moment, which the receipt shows) and,
        // with a norm, is due so many working days on. The calendar is read only when needed.
        let sla = def.sla_of(t);
        let (start, due) = if sla.is_some() || !t.effects.is_empty() {
            let calendar = super::calendar::load(conn, signing.intake)?;
            let start = calendar.next_working_moment(clock_now);
            let due = sla.map(|days| {
                let local = crate::domain::calendar::moscow(start.value).date();
                let due = calendar.add_working_days(local, days);
                (due.value, due.provisional || start.provisional)
            });
            (start.value, due)
        } else {
            (clock_now, None)
        };
        let step = Step {
            started_at: start.naive_utc(),
            due,
        };
        // Stages the change (with `payload`), answers, and writes it with the remembered
        // response.
        let finish = |conn: &mut DbConnection, payload: Value| -> Result<CaseDto, ServiceError> {
            let change = Change {
                submitted,
                state: Some(t.to.clone()),
                form_data: None,
                kind: "case.transition",
                payload,
                step: Some(step),
            };
            let staged = stage_change(&case, expected, change, actor, now);
            let dto = to_dto(
                &Visible {
                    case: staged.next.clone(),
                    workflow: workflow.clone(),
                    owner: owner.clone(),
                },
                actor,
                clock_now,
            )?;
            let remember = match &req.idempotency_key {
                Some(key) => Some(Remembered {
                    user_id: actor.user.to_string(),
                    idem_key: key.clone(),
                    request_hash: req.fingerprint.clone(),
                    case_id: req.case_id.clone(),
                    response: serde_json::to_string(&dto)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    created_at: now,
                }),
                None => None,
            };
            apply_staged(conn, staged, remember.as_ref())?;
            Ok(dto)
        };
        if t.effects.is_empty() {
            return finish(conn, payload);
        }
        // Effects write more than the one version-checked change: all in one transaction.
        more_writes_tx(conn, |conn| {
            let mut cx = EffectContext {
                case: &case,
                workflow: &workflow,
                transition: t,
                accepted: accepted.as_ref(),
                signing,
                now: clock_now,
                registered_at: start,
                payload: &mut payload,
                number: None,
            };
            effects::run(conn, &t.effects, &mut cx)?;
            finish(conn, payload)
        })
    });
    if let Some((owner, c)) = &checked {
        crate::registry::check::record_for_case(
            conn,
            &req.case_id,
            owner,
            c,
            &format!("transition:{}", req.name),
            now,
        )?;
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
