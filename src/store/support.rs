//! The help desk's rows: the agents of each support line, and what a support request carries
//! beside its case (its line, priority, category, links, reply token, answer moments).

use super::DbConnection;
use super::schema::{cases, support_agents as ag, support_requests as sr};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

/// An agent of the help desk.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = ag)]
pub struct Agent {
    /// The user.
    pub user_id: String,
    /// 1 (first line) or 2 (second line).
    pub line: i16,
    /// Whether they lead the line (escalations of the line go to them).
    pub lead: bool,
    /// Since when.
    #[serde(skip)]
    pub added_at: NaiveDateTime,
}

/// Puts a user on a line (moving them from another one).
pub fn put_agent(
    conn: &mut DbConnection,
    user_id: &str,
    line: i16,
    lead: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::delete(ag::table.find(user_id)).execute(conn)?;
    diesel::insert_into(ag::table)
        .values((
            ag::user_id.eq(user_id),
            ag::line.eq(line),
            ag::lead.eq(lead),
            ag::added_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Takes a user off the desk; whether they were on it.
pub fn remove_agent(conn: &mut DbConnection, user_id: &str) -> QueryResult<bool> {
    Ok(diesel::delete(ag::table.find(user_id)).execute(conn)? > 0)
}

/// The line a user works, if any.
pub fn agent(conn: &mut DbConnection, user_id: &str) -> QueryResult<Option<Agent>> {
    ag::table
        .find(user_id)
        .select(Agent::as_select())
        .first(conn)
        .optional()
}

/// Every agent, by line.
pub fn agents(conn: &mut DbConnection) -> QueryResult<Vec<Agent>> {
    ag::table
        .order((ag::line, ag::user_id))
        .select(Agent::as_select())
        .load(conn)
}

/// What a support request carries beside its case.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sr)]
pub struct Request {
    /// Its case.
    pub case_id: String,
    /// The line working it.
    pub line: i16,
    /// The category code from the form.
    pub category: String,
    /// The application (or other case) it concerns.
    pub linked_case_id: Option<String>,
    /// The request it repeats.
    pub repeat_of: Option<String>,
    /// What a reply by e-mail quotes to land on this request.
    pub reply_token: String,
    /// The first answer of an agent.
    pub first_response_at: Option<NaiveDateTime>,
    /// When an agent marked it resolved.
    pub resolved_at: Option<NaiveDateTime>,
    /// When it was sent.
    pub created_at: NaiveDateTime,
}

/// Stores a request's row.
pub fn insert(conn: &mut DbConnection, row: &Request) -> QueryResult<()> {
    diesel::insert_into(sr::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// A request's row.
pub fn find(conn: &mut DbConnection, case_id: &str) -> QueryResult<Option<Request>> {
    sr::table
        .find(case_id)
        .select(Request::as_select())
        .first(conn)
        .optional()
}

/// The line working a request, if it was sent.
pub fn line_of(conn: &mut DbConnection, case_id: &str) -> QueryResult<Option<i16>> {
    sr::table
        .find(case_id)
        .select(sr::line)
        .first(conn)
        .optional()
}

/// A request that links a case: its id, line, author and assignee.
#[derive(Debug, Clone, Queryable)]
pub struct Linking {
    /// The request's case.
    pub case_id: String,
    /// Its line.
    pub line: i16,
    /// Its author.
    pub owner_id: String,
    /// Its agent.
    pub assignee_id: Option<String>,
}

/// The requests that link a case.
pub fn linking(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<Linking>> {
    sr::table
        .inner_join(cases::table.on(cases::id.eq(sr::case_id)))
        .filter(sr::linked_case_id.eq(case_id))
        .select((sr::case_id, sr::line, cases::owner_id, cases::assignee_id))
        .load(conn)
}

/// The agent of `line` with the fewest requests assigned in one of `open_states` (agents
/// before the lead, then by id), if the line has anyone.
pub fn least_loaded(
    conn: &mut DbConnection,
    line: i16,
    open_states: &[String],
) -> QueryResult<Option<String>> {
    let agents: Vec<(String, bool)> = ag::table
        .filter(ag::line.eq(line))
        .order((ag::lead, ag::user_id))
        .select((ag::user_id, ag::lead))
        .load(conn)?;
    let mut best: Option<(i64, bool, String)> = None;
    for (user, lead) in agents {
        let load: i64 = sr::table
            .inner_join(cases::table.on(cases::id.eq(sr::case_id)))
            .filter(cases::assignee_id.eq(&user))
            .filter(cases::state.eq_any(open_states))
            .count()
            .get_result(conn)?;
        let better = best
            .as_ref()
            .is_none_or(|(l, b_lead, _)| (load, lead) < (*l, *b_lead));
        if better {
            best = Some((load, lead, user));
        }
    }
    Ok(best.map(|(_, _, u)| u))
}

/// Records an agent's first answer (later answers keep the first moment).
pub fn answered(conn: &mut DbConnection, case_id: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        sr::table
            .find(case_id)
            .filter(sr::first_response_at.is_null()),
    )
    .set(sr::first_response_at.eq(at))
    .execute(conn)
    .map(drop)
}

/// Records (or, with `None`, clears) the moment the request was resolved.
pub fn resolved(
    conn: &mut DbConnection,
    case_id: &str,
    at: Option<NaiveDateTime>,
) -> QueryResult<()> {
    diesel::update(sr::table.find(case_id))
        .set(sr::resolved_at.eq(at))
        .execute(conn)
        .map(drop)
}

/// The request a reply token belongs to.
pub fn by_reply_token(conn: &mut DbConnection, token: &str) -> QueryResult<Option<String>> {
    sr::table
        .filter(sr::reply_token.eq(token))
        .select(sr::case_id)
        .first(conn)
        .optional()
}

/// A case of one's own found by its number.
#[derive(Debug, Clone, Queryable)]
pub struct OwnCase {
    /// Its id.
    pub id: String,
    /// Its workflow.
    pub workflow_id: String,
    /// Its state.
    pub state: String,
    /// The Moscow date its step is due.
    pub due_on: Option<chrono::NaiveDate>,
    /// Its assignee.
    pub assignee_id: Option<String>,
}

/// A case of `owner` by its number.
pub fn own_case_by_number(
    conn: &mut DbConnection,
    owner: &str,
    number: &str,
) -> QueryResult<Option<OwnCase>> {
    cases::table
        .filter(cases::number.eq(number))
        .filter(cases::owner_id.eq(owner))
        .select((
            cases::id,
            cases::workflow_id,
            cases::state,
            cases::due_on,
            cases::assignee_id,
        ))
        .first(conn)
        .optional()
}

/// Moves a request to another line.
pub fn set_line(conn: &mut DbConnection, case_id: &str, line: i16) -> QueryResult<()> {
    diesel::update(sr::table.find(case_id))
        .set(sr::line.eq(line))
        .execute(conn)
        .map(drop)
}

/// The leads of a line.
pub fn leads(conn: &mut DbConnection, line: i16) -> QueryResult<Vec<String>> {
    ag::table
        .filter(ag::line.eq(line))
        .filter(ag::lead.eq(true))
        .order(ag::user_id)
        .select(ag::user_id)
        .load(conn)
}
