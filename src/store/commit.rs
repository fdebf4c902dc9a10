//! The commit of a case change: the case row as it will be (checked against the version it was
//! read at), its audit event and whatever the change adds to the same commit: the response
//! remembered for a retried request, timers it starts, timers it cancels, the timer it fires,
//! the notifications it writes to the outbox.
//!
//! The store alone decides how to write it atomically. On PostgreSQL it is one statement (a
//! data-modifying CTE), atomic by itself, so the hot path of a transition needs no explicit
//! transaction; on SQLite it is a few statements inside the caller's write transaction.

use super::DbConnection;
use super::audit::NewAuditEvent;
use super::cases::Case;
use super::idempotency::Remembered;
use super::notifications::NewNotification;
use super::schema::{cases, timers};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A timer to start.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = timers)]
pub struct NewTimer {
    pub id: String,
    pub case_id: String,
    /// `step` or `procedure`.
    pub scope: String,
    /// `transition` or `escalate`.
    pub action: String,
    /// The transition to run, for `transition`.
    pub transition: Option<String>,
    /// The reason it runs with.
    pub reason: Option<String>,
    /// The state the case is in while the timer runs.
    pub state: String,
    /// When it is due (UTC).
    pub due_at: NaiveDateTime,
    pub status: String,
    pub created_at: NaiveDateTime,
}

/// The timer a commit fires, and how late it fired.
#[derive(Debug, Clone)]
pub struct Fired {
    pub timer_id: String,
    pub fired_at: NaiveDateTime,
    pub lateness_ms: i64,
    /// What firing did (`transition:expire`, `escalated`).
    pub outcome: String,
}

/// One atomic change of a case.
#[derive(Debug)]
pub struct CaseCommit<'a> {
    /// The case row as it will be.
    pub case: &'a Case,
    /// The version the change was computed from.
    pub expected_version: i64,
    /// The audit event recording it.
    pub event: &'a NewAuditEvent,
    /// The response to replay for a retried request.
    pub remember: Option<&'a Remembered>,
    /// Timers the change starts.
    pub timers: &'a [NewTimer],
    /// Scopes of the case's pending timers the change cancels.
    pub cancel: &'a [&'a str],
    /// The timer this change fires: the commit writes only while it is still pending.
    pub fired: Option<&'a Fired>,
    /// Notifications of the change, into the outbox.
    pub notifications: &'a [NewNotification],
    /// The step the change ends, for stage analytics.
    pub closed_step: Option<&'a super::steps::StepRow>,
}

/// The columns of a case a change may write (all but the id and the creation fields).
#[derive(Debug, AsChangeset)]
#[diesel(table_name = cases, treat_none_as_null = true)]
struct CaseRow<'a> {
    state: &'a str,
    form_data: &'a str,
    version: i64,
    audit_seq: i64,
    audit_head: &'a str,
    submitted_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
    step_started_at: Option<NaiveDateTime>,
    due_on: Option<chrono::NaiveDate>,
    due_provisional: bool,
    breached_at: Option<NaiveDateTime>,
    procedure_due_on: Option<chrono::NaiveDate>,
    procedure_due_provisional: bool,
    procedure_breached_at: Option<NaiveDateTime>,
    number: Option<&'a str>,
    specialty: Option<&'a str>,
    region: Option<&'a str>,
    applicant_name: Option<&'a str>,
    name_key: Option<&'a str>,
    snils: Option<&'a str>,
    assignee_id: Option<&'a str>,
    step_transition: Option<&'a str>,
    attributes: &'a str,
}

impl<'a> From<&'a Case> for CaseRow<'a> {
    fn from(c: &'a Case) -> Self {
        CaseRow {
            state: &c.state,
            form_data: &c.form_data,
            version: c.version,
            audit_seq: c.audit_seq,
            audit_head: &c.audit_head,
            submitted_at: c.submitted_at,
            updated_at: c.updated_at,
            step_started_at: c.step_started_at,
            due_on: c.due_on,
            due_provisional: c.due_provisional,
            breached_at: c.breached_at,
            procedure_due_on: c.procedure_due_on,
            procedure_due_provisional: c.procedure_due_provisional,
            procedure_breached_at: c.procedure_breached_at,
            number: c.number.as_deref(),
            specialty: c.specialty.as_deref(),
            region: c.region.as_deref(),
            applicant_name: c.applicant_name.as_deref(),
            name_key: c.name_key.as_deref(),
            snils: c.snils.as_deref(),
            assignee_id: c.assignee_id.as_deref(),
            step_transition: c.step_transition.as_deref(),
            attributes: &c.attributes,
        }
    }
}

#[derive(QueryableByName)]
struct AppliedId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[expect(dead_code, reason = "only the row count matters")]
    id: String,
}

/// Writes a [`CaseCommit`] atomically; `false` (and nothing written) if the case is no longer
/// at the expected version or the timer it fires is no longer pending.
pub fn write(conn: &mut DbConnection, c: &CaseCommit<'_>) -> QueryResult<bool> {
    let written = match conn {
        DbConnection::Pg(pg) => write_pg(pg, c)?,
        DbConnection::Sqlite(_) => write_statements(conn, c)?,
    };
    if written {
        crate::metrics::stage_commit(
            &c.case.workflow_id,
            &c.case.state,
            &c.event.kind,
            c.fired.map(|f| (f.outcome.as_str(), f.lateness_ms)),
        );
        // Outside a transaction (PostgreSQL's single statement) the write has committed.
        if !super::conn::in_transaction(conn) {
            crate::metrics::commit();
        }
    }
    Ok(written)
}

fn write_pg(pg: &mut diesel::PgConnection, c: &CaseCommit<'_>) -> QueryResult<bool> {
    use diesel::pg::Pg;
    use diesel::sql_types::{Array, BigInt, Bool, Date, Integer, Nullable, Text, Timestamp};
    let (n, e, r, f, s) = (c.case, c.event, c.remember, c.fired, c.closed_step);
    let t = c.timers;
    let col = |get: fn(&NewTimer) -> String| t.iter().map(get).collect::<Vec<_>>();
    let opt = |get: fn(&NewTimer) -> Option<String>| t.iter().map(get).collect::<Vec<_>>();
    let note =
        |get: fn(&NewNotification) -> String| c.notifications.iter().map(get).collect::<Vec<_>>();
    let note_opt = |get: fn(&NewNotification) -> Option<String>| {
        c.notifications.iter().map(get).collect::<Vec<_>>()
    };
    let rows: Vec<AppliedId> = diesel::sql_query(
        "WITH upd AS (
            UPDATE cases SET state = $1, form_data = $2, version = $3, audit_seq = $4,
                audit_head = $5, updated_at = $6, submitted_at = $7, step_started_at = $8,
                due_on = $9, due_provisional = $10, breached_at = $11, procedure_due_on = $12,
                procedure_due_provisional = $13, procedure_breached_at = $14, number = $53,
                specialty = $54, region = $55, applicant_name = $56, name_key = $57, snils = $58,
                assignee_id = $59, step_transition = $60, attributes = $70
            WHERE id = $15 AND version = $16
              AND ($32::text IS NULL
                   OR EXISTS (SELECT 1 FROM timers WHERE id = $32 AND status = 'pending'))
            RETURNING id),
         ev AS (
            INSERT INTO audit_events (chain, seq, kind, actor_id, case_id, at, payload, prev_hash, hash)
            SELECT $17, $18, $19, $20, $21, $22, $23, $24, $25 FROM upd RETURNING id),
         idem AS (
            INSERT INTO idempotency_keys (user_id, idem_key, request_hash, case_id, response, created_at)
            SELECT $26, $27, $28, $29, $30, $31 FROM upd WHERE $26::text IS NOT NULL RETURNING 1),
         fire AS (
            UPDATE timers SET status = 'fired', fired_at = $33, lateness_ms = $34, outcome = $35,
                lease_owner = NULL, lease_until = NULL
            WHERE id = $32 AND status = 'pending' AND EXISTS (SELECT 1 FROM upd) RETURNING id),
         cancel AS (
            UPDATE timers SET status = 'cancelled', fired_at = $6, lease_owner = NULL,
                lease_until = NULL
            WHERE case_id = $15 AND status = 'pending' AND scope = ANY($36)
              AND id IS DISTINCT FROM $32 AND EXISTS (SELECT 1 FROM upd) RETURNING id),
         tm AS (
            INSERT INTO timers (id, case_id, scope, action, transition, reason, state, due_at,
                status, created_at)
            SELECT t.id, $15, t.scope, t.action, t.transition, t.reason, t.state, t.due_at,
                'pending', $6
            FROM unnest($37::text[], $38::text[], $39::text[], $40::text[], $41::text[],
                        $42::text[], $43::timestamp[])
                 AS t(id, scope, action, transition, reason, state, due_at)
            WHERE EXISTS (SELECT 1 FROM upd) RETURNING id),
         note AS (
            INSERT INTO notifications (id, recipient_id, case_id, event, channel, subject, body,
                status, created_at, delivered_at, next_attempt_at, address, html)
            SELECT n.id, n.recipient_id, $15, n.event, n.channel, n.subject, n.body, n.status,
                $6, CASE WHEN n.status = 'delivered' THEN $6 END,
                CASE WHEN n.status = 'pending' THEN $6 END, n.address, n.html
            FROM unnest($44::text[], $45::text[], $46::text[], $47::text[], $48::text[],
                        $49::text[], $50::text[], $51::text[], $52::text[])
                 AS n(id, recipient_id, event, channel, subject, body, status, address, html)
            WHERE EXISTS (SELECT 1 FROM upd) RETURNING id),
         st AS (
            INSERT INTO case_steps (case_id, seq, workflow_id, specialty, state, started_by,
                started_at, ended_at, working_days, sla_working_days)
            SELECT $15, $61, $62, $63, $64, $65, $66, $67, $68, $69 FROM upd
            WHERE $61::bigint IS NOT NULL RETURNING 1)
         SELECT id FROM upd",
    )
    .into_boxed::<Pg>()
    .bind::<Text, _>(&n.state)
    .bind::<Text, _>(&n.form_data)
    .bind::<BigInt, _>(n.version)
    .bind::<BigInt, _>(n.audit_seq)
    .bind::<Text, _>(&n.audit_head)
    .bind::<Timestamp, _>(n.updated_at)
    .bind::<Nullable<Timestamp>, _>(n.submitted_at)
    .bind::<Nullable<Timestamp>, _>(n.step_started_at)
    .bind::<Nullable<Date>, _>(n.due_on)
    .bind::<Bool, _>(n.due_provisional)
    .bind::<Nullable<Timestamp>, _>(n.breached_at)
    .bind::<Nullable<Date>, _>(n.procedure_due_on)
    .bind::<Bool, _>(n.procedure_due_provisional)
    .bind::<Nullable<Timestamp>, _>(n.procedure_breached_at)
    .bind::<Text, _>(&n.id)
    .bind::<BigInt, _>(c.expected_version)
    .bind::<Text, _>(&e.chain)
    .bind::<BigInt, _>(e.seq)
    .bind::<Text, _>(&e.kind)
    .bind::<Nullable<Text>, _>(&e.actor_id)
    .bind::<Nullable<Text>, _>(&e.case_id)
    .bind::<Timestamp, _>(e.at)
    .bind::<Text, _>(&e.payload)
    .bind::<Text, _>(&e.prev_hash)
    .bind::<Text, _>(&e.hash)
    .bind::<Nullable<Text>, _>(r.map(|r| r.user_id.clone()))
    .bind::<Nullable<Text>, _>(r.map(|r| r.idem_key.clone()))
    .bind::<Nullable<Text>, _>(r.map(|r| r.request_hash.clone()))
    .bind::<Nullable<Text>, _>(r.map(|r| r.case_id.clone()))
    .bind::<Nullable<Text>, _>(r.map(|r| r.response.clone()))
    .bind::<Nullable<Timestamp>, _>(r.map(|r| r.created_at))
    .bind::<Nullable<Text>, _>(f.map(|f| f.timer_id.clone()))
    .bind::<Nullable<Timestamp>, _>(f.map(|f| f.fired_at))
    .bind::<Nullable<BigInt>, _>(f.map(|f| f.lateness_ms))
    .bind::<Nullable<Text>, _>(f.map(|f| f.outcome.clone()))
    .bind::<Array<Text>, _>(c.cancel.to_vec())
    .bind::<Array<Text>, _>(col(|t| t.id.clone()))
    .bind::<Array<Text>, _>(col(|t| t.scope.clone()))
    .bind::<Array<Text>, _>(col(|t| t.action.clone()))
    .bind::<Array<Nullable<Text>>, _>(opt(|t| t.transition.clone()))
    .bind::<Array<Nullable<Text>>, _>(opt(|t| t.reason.clone()))
    .bind::<Array<Text>, _>(col(|t| t.state.clone()))
    .bind::<Array<Timestamp>, _>(t.iter().map(|t| t.due_at).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(note(|n| n.id.clone()))
    .bind::<Array<Text>, _>(note(|n| n.recipient_id.clone()))
    .bind::<Array<Text>, _>(note(|n| n.event.clone()))
    .bind::<Array<Text>, _>(note(|n| n.channel.clone()))
    .bind::<Array<Text>, _>(note(|n| n.subject.clone()))
    .bind::<Array<Text>, _>(note(|n| n.body.clone()))
    .bind::<Array<Text>, _>(note(|n| n.status.clone()))
    .bind::<Array<Nullable<Text>>, _>(note_opt(|n| n.address.clone()))
    .bind::<Array<Nullable<Text>>, _>(note_opt(|n| n.html.clone()))
    .bind::<Nullable<Text>, _>(&n.number)
    .bind::<Nullable<Text>, _>(&n.specialty)
    .bind::<Nullable<Text>, _>(&n.region)
    .bind::<Nullable<Text>, _>(&n.applicant_name)
    .bind::<Nullable<Text>, _>(&n.name_key)
    .bind::<Nullable<Text>, _>(&n.snils)
    .bind::<Nullable<Text>, _>(&n.assignee_id)
    .bind::<Nullable<Text>, _>(&n.step_transition)
    .bind::<Nullable<BigInt>, _>(s.map(|s| s.seq))
    .bind::<Nullable<Text>, _>(s.map(|s| s.workflow_id.clone()))
    .bind::<Nullable<Text>, _>(s.and_then(|s| s.specialty.clone()))
    .bind::<Nullable<Text>, _>(s.map(|s| s.state.clone()))
    .bind::<Nullable<Text>, _>(s.and_then(|s| s.started_by.clone()))
    .bind::<Nullable<Timestamp>, _>(s.map(|s| s.started_at))
    .bind::<Nullable<Timestamp>, _>(s.map(|s| s.ended_at))
    .bind::<Nullable<BigInt>, _>(s.map(|s| s.working_days))
    .bind::<Nullable<Integer>, _>(s.and_then(|s| s.sla_working_days))
    .bind::<Text, _>(&n.attributes)
    .load(pg)?;
    Ok(rows.len() == 1)
}

fn write_statements(conn: &mut DbConnection, c: &CaseCommit<'_>) -> QueryResult<bool> {
    let now = c.case.updated_at;
    if let Some(f) = c.fired {
        let fired = diesel::update(
            timers::table
                .find(&f.timer_id)
                .filter(timers::status.eq("pending")),
        )
        .set((
            timers::status.eq("fired"),
            timers::fired_at.eq(f.fired_at),
            timers::lateness_ms.eq(f.lateness_ms),
            timers::outcome.eq(&f.outcome),
            timers::lease_owner.eq(None::<String>),
            timers::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
        if fired != 1 {
            return Ok(false);
        }
    }
    let updated = diesel::update(
        cases::table
            .find(&c.case.id)
            .filter(cases::version.eq(c.expected_version)),
    )
    .set(CaseRow::from(c.case))
    .execute(conn)?;
    if updated != 1 {
        return Ok(false);
    }
    super::audit::insert(conn, c.event)?;
    if let Some(s) = c.closed_step {
        diesel::insert_into(super::schema::case_steps::table)
            .values(s)
            .execute(conn)?;
    }
    if let Some(r) = c.remember {
        super::idempotency::insert(conn, r)?;
    }
    if !c.cancel.is_empty() {
        let mut q = diesel::update(
            timers::table
                .filter(timers::case_id.eq(&c.case.id))
                .filter(timers::status.eq("pending"))
                .filter(timers::scope.eq_any(c.cancel)),
        )
        .into_boxed();
        if let Some(f) = c.fired {
            q = q.filter(timers::id.ne(&f.timer_id));
        }
        q.set((
            timers::status.eq("cancelled"),
            timers::fired_at.eq(now),
            timers::lease_owner.eq(None::<String>),
            timers::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    }
    for t in c.timers {
        diesel::insert_into(timers::table).values(t).execute(conn)?;
    }
    for n in c.notifications {
        diesel::insert_into(super::schema::notifications::table)
            .values(n)
            .execute(conn)?;
    }
    Ok(true)
}
