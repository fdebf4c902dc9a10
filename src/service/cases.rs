//! Creating, reading and listing cases, and their status history.

use super::access::{Visible, load_visible};
use super::{ServiceError, pinned_workflow};
use crate::audit::{self, Entry};
use crate::domain::ids::{CaseId, UserId};
use crate::engine::catalog::Catalog;
use crate::engine::{Actor, available};
use crate::store::audit as audit_rows;
use crate::store::cases::{self, Case, CaseFilter};
use crate::store::{DbConnection, users, write_tx};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;

/// A transition the caller may run now (guards are checked when it runs).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AllowedTransition {
    /// Transition name.
    pub name: String,
    /// Russian label.
    pub label: String,
    /// State it leads to.
    pub to: String,
    /// Whether a reason must be given.
    pub requires_reason: bool,
}

/// A case as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseDto {
    /// Case id.
    pub id: String,
    /// Workflow id.
    pub workflow: String,
    /// Version of the workflow definition the case pinned.
    pub workflow_version: u32,
    /// Content hash of that definition.
    pub definition_hash: String,
    /// Current state code.
    pub state: String,
    /// Current state, as the cabinet shows it.
    pub state_label: String,
    /// Optimistic-concurrency version (also the ETag).
    pub version: i64,
    /// The applicant.
    pub owner_id: String,
    /// The application number, once filed.
    pub number: Option<String>,
    /// The specialty code it was filed for.
    pub specialty: Option<String>,
    /// The commission member it is assigned to (shown to the commission, not the applicant).
    pub assignee_id: Option<String>,
    /// Form data.
    #[schema(value_type = Object)]
    pub form: Value,
    /// Fields filled in when the draft was created, by JSON pointer, with their source:
    /// `esia` (the identity provider, Госуслуги) or `frmr` (the register of medical workers).
    #[schema(value_type = Object)]
    pub prefilled: Value,
    /// When the current step started (UTC); for a submission, its registration moment.
    pub step_started_at: Option<DateTime<Utc>>,
    /// The Moscow date the current step is due, when its state has a deadline.
    pub due_on: Option<chrono::NaiveDate>,
    /// The due date rests on days past the last decree of the production calendar, computed
    /// by the Labour Code rules: it may move when the decree is published.
    pub due_provisional: bool,
    /// The due date has passed (Moscow time).
    pub overdue: bool,
    /// The current step's deadline passed while the case was in it and was escalated (UTC).
    pub breached_at: Option<DateTime<Utc>>,
    /// The Moscow date the whole procedure is due (from the first registration), once filed.
    pub procedure_due_on: Option<chrono::NaiveDate>,
    /// The procedure's due date rests on provisional calendar days.
    pub procedure_due_provisional: bool,
    /// The procedure's deadline passed before a decision and was escalated (UTC).
    pub procedure_breached_at: Option<DateTime<Utc>>,
    /// Created at (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed at (UTC).
    pub updated_at: DateTime<Utc>,
    /// Transitions the caller may run now.
    pub allowed_transitions: Vec<AllowedTransition>,
    /// What the case is classed by (a support request's `priority` and `kind`): each
    /// attribute its workflow declares, with its value.
    pub attributes: std::collections::BTreeMap<String, String>,
    /// The accreditation record an approval issued (shown when the case is read by id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accreditation: Option<super::results::AccreditationDto>,
}

/// One step of a case's status history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// Who acted.
    pub actor_id: Option<String>,
    /// Their display name.
    pub actor_name: Option<String>,
    /// Transition name; absent for creation.
    pub transition: Option<String>,
    /// State before; absent for creation.
    pub from: Option<String>,
    /// Label of the state before.
    pub from_label: Option<String>,
    /// State after.
    pub to: String,
    /// Label of the state after.
    pub to_label: String,
    /// Reason given.
    pub reason: Option<String>,
    /// For a transition: the working days the step it ends took, from that step's start (the
    /// next opening after it began) to this moment.
    pub step_working_days: Option<i64>,
    /// The norm of that step in working days, when it had one.
    pub step_norm_working_days: Option<u32>,
    /// What the commission's decision said, for a decision.
    pub decision: Option<DecisionDto>,
    /// The application number a signed submission was registered under.
    pub number: Option<String>,
}

/// What a decision of the commission said, as the applicant reads it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DecisionDto {
    /// Decision id.
    pub id: String,
    /// The transition it was made by.
    pub transition: String,
    /// When (UTC).
    pub decided_at: DateTime<Utc>,
    /// Reasons from the catalogue: `[{"code", "text"}]`.
    #[schema(value_type = Object)]
    pub reasons: Value,
    /// Recommendations to the applicant.
    pub recommendations: Option<String>,
    /// What to fix: `{"fields": [{"pointer", "comment"}], "documents": [{"type", "label",
    /// "comment"}]}`.
    #[schema(value_type = Object)]
    pub fixes: Value,
}

impl DecisionDto {
    /// The stored decision, with document labels from `def`.
    pub fn of(
        row: crate::store::decisions::DecisionRow,
        def: &crate::engine::definition::Definition,
    ) -> Result<Self, crate::store::StoreError> {
        let corrupt = |e: serde_json::Error| {
            crate::store::StoreError::Corrupt(format!("decision {}: {e}", row.id))
        };
        let reasons: Value = serde_json::from_str(&row.reasons).map_err(corrupt)?;
        let mut fixes: Value = serde_json::from_str(&row.fixes).map_err(corrupt)?;
        // The values before the return are the commission's working data, not the applicant's
        // message.
        if let Some(fields) = fixes["fields"].as_array_mut() {
            for f in fields {
                if let Some(o) = f.as_object_mut() {
                    o.remove("before");
                }
            }
        }
        if let Some(docs) = fixes["documents"].as_array_mut() {
            for d in docs {
                let label = d["type"]
                    .as_str()
                    .and_then(|t| def.document_types.iter().find(|x| x.code == t))
                    .map(|t| t.label.clone());
                d["label"] = json!(label);
            }
        }
        Ok(DecisionDto {
            id: row.id,
            transition: row.transition,
            decided_at: row.decided_at.and_utc(),
            reasons,
            recommendations: row.recommendations,
            fixes,
        })
    }
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// Builds the API view of a visible case for `actor`.
pub fn to_dto(v: &Visible, actor: &Actor, now: DateTime<Utc>) -> Result<CaseDto, ServiceError> {
    let def = &v.workflow.definition;
    let form: Value = serde_json::from_str(&v.case.form_data).map_err(|e| {
        crate::store::StoreError::Corrupt(format!("form of case {}: {e}", v.case.id))
    })?;
    let attributes = crate::engine::attributes::resolve(&def.attributes, &v.case.attributes, &form);
    Ok(CaseDto {
        id: v.case.id.clone(),
        workflow: def.id.clone(),
        workflow_version: def.version,
        definition_hash: def.hash.clone(),
        state: v.case.state.clone(),
        state_label: def.label_of(&v.case.state).to_owned(),
        version: v.case.version,
        owner_id: v.case.owner_id.clone(),
        number: v.case.number.clone(),
        specialty: v.case.specialty.clone(),
        assignee_id: v.case.assignee_id.clone().filter(|_| actor.user != v.owner),
        form,
        prefilled: serde_json::from_str(&v.case.prefilled).unwrap_or_else(|_| json!({})),
        step_started_at: v.case.step_started_at.map(utc),
        due_on: v.case.due_on,
        due_provisional: v.case.due_provisional,
        overdue: v
            .case
            .due_on
            .is_some_and(|due| crate::domain::calendar::moscow(now).date() > due),
        breached_at: v.case.breached_at.map(utc),
        procedure_due_on: v.case.procedure_due_on,
        procedure_due_provisional: v.case.procedure_due_provisional,
        procedure_breached_at: v.case.procedure_breached_at.map(utc),
        created_at: utc(v.case.created_at),
        updated_at: utc(v.case.updated_at),
        allowed_transitions: available(def, v.view(), actor)
            .into_iter()
            .map(|t| AllowedTransition {
                name: t.name.clone(),
                label: t.label.clone(),
                to: t.to.clone(),
                requires_reason: t.requires_reason,
            })
            .collect(),
        attributes,
        accreditation: None,
    })
}

/// Creates a draft of `workflow_id` for the actor.
pub fn create(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    workflow_id: &str,
    now: DateTime<Utc>,
) -> Result<CaseDto, ServiceError> {
    let case = write_tx(conn, |conn| {
        insert_draft(conn, catalog, actor, workflow_id, now)
    })?;
    let workflow = catalog
        .current(workflow_id)
        .ok_or(ServiceError::UnknownWorkflow)?;
    to_dto(&super::access::assemble(conn, case, workflow)?, actor, now)
}

/// Writes a new draft of `workflow_id` for `actor`, its form prefilled, in the caller's
/// transaction.
pub(crate) fn insert_draft(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    workflow_id: &str,
    now: DateTime<Utc>,
) -> Result<Case, ServiceError> {
    insert_draft_with(conn, catalog, actor, workflow_id, json!({}), json!({}), now)
}

/// Like [`insert_draft`], with `filled` merged over the prefilled form (what the person gave
/// elsewhere, e.g. in an e-mail) and `about` added to the creation's event.
pub(crate) fn insert_draft_with(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    workflow_id: &str,
    filled: Value,
    about: Value,
    now: DateTime<Utc>,
) -> Result<Case, ServiceError> {
    let workflow = catalog
        .current(workflow_id)
        .ok_or(ServiceError::UnknownWorkflow)?;
    let def = &workflow.definition;
    if !def.creators.iter().any(|r| actor.has(*r)) {
        return Err(ServiceError::NotCreator {
            workflow: def.title.clone(),
            roles: def.creators.clone(),
        });
    }
    let schema: Value = serde_json::from_str(&workflow.schema_json).map_err(|e| {
        crate::store::StoreError::Corrupt(format!("form schema of {}: {e}", def.id))
    })?;
    let prefill = super::prefill::for_applicant(conn, actor.user.as_str(), &schema)
        .map_err(crate::store::StoreError::from)?;
    let sources = serde_json::to_value(&prefill.sources)
        .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
    let mut form = prefill.form;
    json_patch::merge(&mut form, &filled);
    write_draft(conn, def, actor.user.as_str(), form, sources, about, now)
}

/// Writes a new draft of `def` for `owner` with `form` (`sources`: which fields were
/// prefilled and from where; `about`: more for its first event), in the caller's transaction.
pub(crate) fn write_draft(
    conn: &mut DbConnection,
    def: &crate::engine::definition::Definition,
    owner: &str,
    form: Value,
    sources: Value,
    about: Value,
    now: DateTime<Utc>,
) -> Result<Case, ServiceError> {
    let id = CaseId::generate(now).to_string();
    let now = now.naive_utc();
    // A workflow that numbers at creation: the number is on the case and in its first event,
    // from a counter of the prefix that never restarts.
    let number = match &def.number_prefix {
        Some(prefix) => {
            use crate::store::signatures::{EVERY_YEAR, next_in_sequence};
            let n = next_in_sequence(conn, EVERY_YEAR, prefix)?;
            Some(format!("{prefix}-{n}"))
        }
        None => None,
    };
    // Which fields were prefilled, never their values (personal data stays out of the log).
    let mut payload = json!({
        "workflow": def.id, "definition": def.hash, "state": def.initial,
        "prefilled": sources,
    });
    if let Some(n) = &number {
        payload["number"] = json!(n);
    }
    if let (Some(p), Value::Object(more)) = (payload.as_object_mut(), about) {
        p.extend(more);
    }
    let created = audit::prepare(
        Entry {
            chain: id.clone(),
            kind: "case.created",
            actor: Some(owner.to_owned()),
            case: Some(id.clone()),
            at: now,
            payload,
        },
        None,
    );
    let case = Case {
        id,
        workflow_id: def.id.clone(),
        definition_hash: def.hash.clone(),
        owner_id: owner.to_owned(),
        state: def.initial.clone(),
        form_data: form.to_string(),
        version: 1,
        audit_seq: created.seq,
        audit_head: created.hash.clone(),
        submitted_at: None,
        created_at: now,
        updated_at: now,
        prefilled: sources.to_string(),
        step_started_at: Some(now),
        due_on: None,
        due_provisional: false,
        breached_at: None,
        procedure_due_on: None,
        procedure_due_provisional: false,
        procedure_breached_at: None,
        number,
        specialty: None,
        region: None,
        applicant_name: None,
        name_key: None,
        snils: None,
        assignee_id: None,
        step_transition: None,
        attributes: "{}".into(),
    };
    cases::insert(conn, &case)?;
    audit_rows::insert(conn, &created)?;
    Ok(case)
}

/// Reads one case.
pub fn get(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<CaseDto, ServiceError> {
    let v = load_visible(conn, catalog, actor, id)?;
    let mut dto = to_dto(&v, actor, now)?;
    if v.workflow
        .definition
        .state(&v.case.state)
        .is_some_and(|s| s.r#final)
    {
        dto.accreditation = super::results::of_case(conn, id)?;
    }
    Ok(dto)
}

/// What a caller asks to list.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    /// Only this state.
    pub state: Option<String>,
    /// Only this workflow.
    pub workflow: Option<String>,
    /// Page size (1..=100).
    pub limit: i64,
    /// Paging cursor: list cases older than this id.
    pub before: Option<String>,
    /// Only cases whose current step is past due (Moscow time).
    pub overdue: bool,
    /// Only cases whose current step is due on or before this date.
    pub due_before: Option<chrono::NaiveDate>,
    /// Earliest due date first.
    pub by_due: bool,
}

/// Lists the cases the caller may see: own cases for applicants; every non-draft case for
/// staff (when `mine` is false).
pub fn list(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    query: &ListQuery,
    mine: bool,
    now: DateTime<Utc>,
) -> Result<Vec<CaseDto>, ServiceError> {
    let staff = !mine && actor.roles.iter().any(|r| r.is_staff());
    let filter = CaseFilter {
        owner: (!staff).then(|| actor.user.to_string()),
        owner_or_submitted: staff.then(|| actor.user.to_string()),
        state: query.state.clone(),
        workflow: query.workflow.clone(),
        limit: query.limit.clamp(1, 100),
        before_id: query.before.clone(),
        // Overdue: due before today (Moscow), i.e. due on or before yesterday.
        due_by: match (query.overdue, query.due_before) {
            (true, by) => {
                let yesterday =
                    crate::domain::calendar::moscow(now).date() - chrono::Duration::days(1);
                Some(by.map_or(yesterday, |b| b.min(yesterday)))
            }
            (false, by) => by,
        },
        by_due: query.by_due,
    };
    let rows = cases::list(conn, &filter)?;
    let mut out = Vec::with_capacity(rows.len());
    for case in rows {
        let workflow = pinned_workflow(conn, catalog, &case.definition_hash)?;
        let v = super::access::assemble(conn, case, workflow)?;
        if crate::engine::can_view(&v.workflow.definition, v.view(), actor) {
            out.push(to_dto(&v, actor, now)?);
        }
    }
    Ok(out)
}

/// How many working days a step took and its norm: the step began with the event `started`
/// (its moment, the transition that started it, the state it entered) and ended at `ended`;
/// it counts from the next opening after it began. The history and the stage analytics both
/// count this way.
pub(crate) fn step_took(
    calendar: &crate::domain::calendar::Calendar,
    def: &crate::engine::definition::Definition,
    started: (DateTime<Utc>, Option<&str>, &str),
    ended: DateTime<Utc>,
) -> (i64, Option<u32>) {
    let (at, transition, state) = started;
    let start = calendar.next_working_moment(at).value;
    let took = calendar.working_days_between(
        crate::domain::calendar::moscow(start).date(),
        crate::domain::calendar::moscow(ended).date(),
    );
    let norm = match transition.and_then(|t| def.transition(t)) {
        Some(t) => def.sla_of(t),
        None => def.state(state).and_then(|s| s.sla_working_days),
    };
    (took.value.max(0), norm)
}

/// The status history of a case: creation and every transition, oldest first.
pub fn history(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    id: &str,
    intake: crate::domain::calendar::Hours,
) -> Result<Vec<HistoryEntry>, ServiceError> {
    let v = load_visible(conn, catalog, actor, id)?;
    let def = &v.workflow.definition;
    let events = audit_rows::for_case(conn, id, &["case.created", "case.transition"])?;
    let calendar = super::calendar::load(conn, intake)?;
    let mut decisions: HashMap<String, crate::store::decisions::DecisionRow> =
        crate::store::decisions::of_case(conn, id)?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    let mut out: Vec<HistoryEntry> = Vec::with_capacity(events.len());
    for e in events {
        let p: Value = serde_json::from_str(&e.payload).map_err(|err| {
            crate::store::StoreError::Corrupt(format!("audit event {}: {err}", e.id))
        })?;
        let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        let actor_name = match &e.actor_id {
            Some(a) => match names.get(a) {
                Some(n) => n.clone(),
                None => {
                    let n =
                        users::find(conn, &UserId::from_stored(a.clone()))?.map(|u| u.display_name);
                    names.insert(a.clone(), n.clone());
                    n
                }
            },
            None => None,
        };
        let (from, to) = if e.kind == "case.created" {
            (None, text("state").unwrap_or_default())
        } else {
            (text("from"), text("to").unwrap_or_default())
        };
        // The step this event ends began with the previous entry.
        let (step_working_days, step_norm_working_days) = match (out.last(), &from) {
            (Some(prev), Some(_)) => {
                let (took, norm) = step_took(
                    &calendar,
                    def,
                    (prev.at, prev.transition.as_deref(), &prev.to),
                    utc(e.at),
                );
                (Some(took), norm)
            }
            _ => (None, None),
        };
        let decision = p
            .pointer("/decision/id")
            .and_then(Value::as_str)
            .and_then(|d| decisions.remove(d))
            .map(|row| DecisionDto::of(row, def))
            .transpose()?;
        out.push(HistoryEntry {
            // Given by the submission's receipt, or at creation by a numbering workflow.
            number: p
                .pointer("/receipt/number")
                .or_else(|| p.get("number"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            decision,
            step_working_days,
            step_norm_working_days,
            at: utc(e.at),
            actor_id: e.actor_id.clone(),
            actor_name,
            transition: text("transition"),
            from_label: from.as_deref().map(|s| def.label_of(s).to_owned()),
            from,
            to_label: def.label_of(&to).to_owned(),
            to,
            reason: text("reason"),
        });
    }
    Ok(out)
}
