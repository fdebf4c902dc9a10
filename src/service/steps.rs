//! Finished steps for stage analytics: recorded by the transition that ends each one
//! ([`closed`]), or rebuilt from the audit log ([`rebuild`]). Both measure a step with
//! [`super::cases::step_took`], the function the status history uses, so a rebuild reproduces
//! what the transitions wrote and the report agrees with every case's history.
//!
//! A step counts when its case is filed by the time the step ends: the draft step ended by the
//! submission and every step after it.

use super::{ServiceError, pinned_workflow};
use crate::domain::calendar::Calendar;
use crate::engine::catalog::Catalog;
use crate::engine::definition::Definition;
use crate::store::cases::Case;
use crate::store::schema::{audit_events as ae, cases};
use crate::store::steps::{self, StepRow};
use crate::store::{DbConnection, StoreError};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use std::collections::HashMap;

/// The step `before` was in, ended at `ended` by the change recorded at audit `seq` that leaves
/// the case as `after`; `None` when the case is not filed after it or the step has no start.
pub(crate) fn closed(
    calendar: &Calendar,
    def: &Definition,
    before: &Case,
    after: &Case,
    seq: i64,
    ended: DateTime<Utc>,
) -> Option<StepRow> {
    after.submitted_at?;
    let started = before.step_started_at?;
    Some(row(
        calendar,
        def,
        Open {
            case_id: &before.id,
            workflow_id: &before.workflow_id,
            specialty: after.specialty.as_deref(),
            state: &before.state,
            started_by: before.step_transition.as_deref(),
            started_at: started,
        },
        seq,
        ended,
    ))
}

/// A step that has started.
struct Open<'a> {
    case_id: &'a str,
    workflow_id: &'a str,
    specialty: Option<&'a str>,
    state: &'a str,
    started_by: Option<&'a str>,
    started_at: NaiveDateTime,
}

fn row(
    calendar: &Calendar,
    def: &Definition,
    o: Open<'_>,
    seq: i64,
    ended: DateTime<Utc>,
) -> StepRow {
    let (took, norm) = super::cases::step_took(
        calendar,
        def,
        (o.started_at.and_utc(), o.started_by, o.state),
        ended,
    );
    StepRow {
        case_id: o.case_id.to_owned(),
        seq,
        workflow_id: o.workflow_id.to_owned(),
        specialty: o.specialty.map(str::to_owned),
        state: o.state.to_owned(),
        started_by: o.started_by.map(str::to_owned),
        started_at: o.started_at,
        ended_at: ended.naive_utc(),
        working_days: took,
        sla_working_days: norm.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
    }
}

/// What a creation or transition event says about the step it starts.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    transition: Option<&'a str>,
    #[serde(borrow)]
    to: Option<&'a str>,
    #[serde(borrow)]
    state: Option<&'a str>,
}

/// Rewrites every recorded step from the audit log, a page of cases at a time, in the caller's
/// transaction; returns how many steps it wrote.
pub fn rebuild(
    conn: &mut DbConnection,
    catalog: &Catalog,
    calendar: &Calendar,
) -> Result<usize, ServiceError> {
    steps::delete_all(conn)?;
    let mut written = 0;
    let mut after: Option<String> = None;
    loop {
        let mut q = cases::table
            .filter(cases::submitted_at.is_not_null())
            .select((
                cases::id,
                cases::definition_hash,
                cases::workflow_id,
                cases::specialty,
                cases::submitted_at.assume_not_null(),
            ))
            .order(cases::id)
            .limit(5_000)
            .into_boxed();
        if let Some(a) = &after {
            q = q.filter(cases::id.gt(a.clone()));
        }
        type Filed = (String, String, String, Option<String>, NaiveDateTime);
        let page: Vec<Filed> = q.load(conn).map_err(StoreError::from)?;
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            break;
        };
        after = Some(last.0.clone());
        // One index range over the page's ids; events of drafts in between are skipped below.
        let events: Vec<(String, i64, NaiveDateTime, String, String)> = ae::table
            .filter(ae::case_id.ge(first.0.clone()))
            .filter(ae::case_id.le(last.0.clone()))
            .filter(ae::kind.eq_any(["case.created", "case.transition"]))
            .order((ae::case_id, ae::seq))
            .select((
                ae::case_id.assume_not_null(),
                ae::seq,
                ae::at,
                ae::kind,
                ae::payload,
            ))
            .load(conn)
            .map_err(StoreError::from)?;
        let filed: HashMap<&str, &Filed> = page.iter().map(|c| (c.0.as_str(), c)).collect();
        let mut out = Vec::new();
        let mut open: Option<(String, NaiveDateTime, Option<String>, String)> = None;
        for (case_id, seq, at, kind, payload) in &events {
            let Some(&case) = filed.get(case_id.as_str()) else {
                continue;
            };
            let p: Payload<'_> = serde_json::from_str(payload).map_err(|e| {
                StoreError::Corrupt(format!("audit payload of case {case_id}: {e}"))
            })?;
            let starts = if kind == "case.created" {
                (None, p.state.unwrap_or_default())
            } else {
                (p.transition, p.to.unwrap_or_default())
            };
            if kind == "case.transition"
                && *at >= case.4
                && let Some((open_case, started, started_by, state)) = &open
                && open_case == case_id
            {
                let def = &pinned_workflow(conn, catalog, &case.1)?.definition;
                out.push(row(
                    calendar,
                    def,
                    Open {
                        case_id,
                        workflow_id: &case.2,
                        specialty: case.3.as_deref(),
                        state,
                        started_by: started_by.as_deref(),
                        started_at: *started,
                    },
                    *seq,
                    at.and_utc(),
                ));
            }
            // As the case row has it: a creation starts at once, a transition's step at the
            // next working moment.
            let start = if kind == "case.created" {
                *at
            } else {
                calendar.next_working_moment(at.and_utc()).value.naive_utc()
            };
            open = Some((
                case_id.clone(),
                start,
                starts.0.map(str::to_owned),
                starts.1.to_owned(),
            ));
        }
        written += steps::insert(conn, &out)?;
    }
    Ok(written)
}

/// Rebuilds the steps when none is recorded yet but filed cases have transitions (the first
/// start after the upgrade that introduced them); returns how many it wrote.
pub fn backfill_if_empty(
    conn: &mut DbConnection,
    catalog: &Catalog,
    calendar: &Calendar,
) -> Result<usize, ServiceError> {
    if steps::any(conn)? {
        return Ok(0);
    }
    let transitions: bool = diesel::select(diesel::dsl::exists(
        ae::table
            .filter(ae::kind.eq("case.transition"))
            .select(ae::seq),
    ))
    .get_result(conn)
    .map_err(StoreError::from)?;
    if !transitions {
        return Ok(0);
    }
    rebuild(conn, catalog, calendar)
}
